"""Which epoch's weights a fold keeps (``select: last | best | ema``), and how optimistic choosing
the best epoch on the scoring fold is.

Every validation pass is recorded (the metric and loss of the weights actually evaluated, i.e. the
EMA/SWA average when one is configured), on the scoring fold and, under ``select_split: inner``, on
an inner slice of the training rows. ``best`` keeps a CPU copy of the weights of the epoch scoring
best on the selection rows (the inner slice when there is one). With an inner slice the summary
also gives the scoring-fold score of the epoch the inner slice chose against that of the epoch the
scoring fold itself would have chosen: their gap is the optimism of selecting on the scoring fold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["EpochSelector"]

log = logging.getLogger("medalist.vision")


class EpochSelector:
    """Per-epoch scores of a fit and, for ``mode == "best"``, the weights of the best epoch.

    >>> class M:  # a metric where higher is better
    ...     name = "auc"
    ...     def better(self, a, b): return a > b
    >>> s = EpochSelector("best", M(), inner=True)
    >>> for e, (fold, inner) in enumerate([(0.70, 0.60), (0.80, 0.75), (0.82, 0.72)], 1):
    ...     s.observe(e, fold, 1.0, inner, 1.0, lambda: {"w": e})
    >>> (s.best_epoch, s.best_state, s.summary(3)["optimism"])
    (2, {'w': 2}, 0.02)
    """

    def __init__(self, mode: str, metric: Any, *, inner: bool) -> None:
        self.mode, self.metric, self.inner = mode, metric, inner
        self.records: list[dict[str, Any]] = []
        self.best_epoch: int | None = None
        self.best_state: Any = None
        self._best_key: float | None = None
        self.criterion: str | None = None  # "metric" or "loss", fixed at the first epoch

    def _better(self, a: float, b: float) -> bool:
        if self.criterion == "metric":
            return bool(self.metric.better(a, b))
        return a < b

    def _key(self, score: float | None, loss: float | None) -> float | None:
        if self.criterion is None:
            self.criterion = "metric" if score is not None and self.metric is not None else "loss"
        return score if self.criterion == "metric" else loss

    def observe(self, epoch: int, fold_score: float | None, fold_loss: float | None, inner_score: float | None,
                inner_loss: float | None, state: Callable[[], Any]) -> None:
        """Record one validation pass; under ``best`` keep ``state()`` when this epoch is the best so far."""
        rec = {"epoch": epoch, "fold_score": fold_score, "fold_loss": fold_loss}
        if self.inner:
            rec.update(inner_score=inner_score, inner_loss=inner_loss)
        self.records.append(rec)
        key = self._key(inner_score, inner_loss) if self.inner else self._key(fold_score, fold_loss)
        if self.mode != "best" or key is None:
            return
        if self._best_key is None or self._better(key, self._best_key):
            self._best_key, self.best_epoch, self.best_state = key, epoch, state()

    def _fold_best(self) -> dict[str, Any] | None:
        name = "fold_score" if self.criterion == "metric" else "fold_loss"
        best = None
        for r in self.records:
            if r[name] is not None and (best is None or self._better(r[name], best[name])):
                best = r
        return best

    def summary(self, last_epoch: int) -> dict[str, Any]:
        """What was selected and why: mode, selected epoch, criterion, per-epoch scores and, with an
        inner slice, the optimism of selecting on the scoring fold instead (positive: optimistic)."""
        selected = self.best_epoch if self.mode == "best" and self.best_epoch is not None else last_epoch
        out: dict[str, Any] = {"select": self.mode, "selected_epoch": selected, "criterion": self.criterion,
                               "on": "inner" if self.inner else "fold", "epochs": self.records}
        fold_best = self._fold_best()
        chosen = next((r for r in self.records if r["epoch"] == selected), None)
        if self.inner and fold_best is not None and chosen is not None:
            name = "fold_score" if self.criterion == "metric" else "fold_loss"
            a, b = fold_best[name], chosen[name]
            maximize = self.criterion == "metric" and bool(self.metric.better(1.0, 0.0))
            gap = a - b if maximize else b - a
            out.update(fold_best_epoch=fold_best["epoch"], fold_score_fold_best=a, fold_score_selected=b,
                       optimism=round(float(gap), 6))
        return out
