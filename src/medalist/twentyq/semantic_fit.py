"""Labelled (keyword, question, answer) triples, the semantic answerer's calibration and its evaluation.

The triples are ``data/semantic_labels.tsv`` (hand-labelled, see docs/twentyq.md). They are split by
keyword: sha1(lowercase keyword) % 2 == 0 is the evaluation part, the rest fits the calibration. Per
question kind and evidence source a one-feature logistic regression maps the raw WordNet/fallback score
to p(yes); a kind's majority (the label rate on the fit part) answers when there is no evidence.
"""

from __future__ import annotations

import hashlib
import json
import math
from importlib import resources
from pathlib import Path

import numpy as np

from .semantic import SemanticAnswerer, parse_question

__all__ = ["LABELS", "evaluate", "fit_calibration", "load_triples", "raw_scores", "split_triples"]

LABELS = "semantic_labels.tsv"


def load_triples(path: Path | str | None = None) -> list[tuple[str, str, bool]]:
    """(keyword, question, answer) triples of a labels file (default: the shipped one).

    >>> len(load_triples()), load_triples()[0]
    (1040, ('Advertisement', 'Is it an animal?', False))
    """
    from medalist.core.errors import DataError

    where = str(path or LABELS)
    if path is None:
        text = resources.files("medalist.twentyq").joinpath("data", LABELS).read_text(encoding="utf-8")
    else:
        if not Path(path).is_file():
            raise DataError(where, expected="a labels file (questions line + keyword<TAB>y/n letters)", found="no such file")
        text = Path(path).read_text(encoding="utf-8")
    questions: list[str] | None = None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, _, rest = line.partition("\t")
        if key == "questions":
            questions = rest.split("|")
            continue
        if questions is None or len(rest) != len(questions) or set(rest) - {"y", "n"}:
            raise DataError(f"{where} line {n}", expected=f"a 'questions' line first, then keyword<TAB>{len(questions or [])} y/n letters",
                            found=repr(line[:80]))
        out += [(key, q, a == "y") for q, a in zip(questions, rest)]
    return out


def split_triples(triples):
    """(fit, eval): by keyword, sha1(lowercase keyword) % 2 == 0 is evaluation."""
    ev = [t for t in triples if int(hashlib.sha1(t[0].lower().encode()).hexdigest(), 16) % 2 == 0]
    fit = [t for t in triples if int(hashlib.sha1(t[0].lower().encode()).hexdigest(), 16) % 2 != 0]
    return fit, ev


def raw_scores(answerer: SemanticAnswerer, triples) -> list[tuple[str, float | None, str]]:
    """(kind, raw score, source) per triple, uncalibrated."""
    saved, answerer.cal = answerer.cal, {}
    try:
        return [(k, raw, src) for k, raw, _, src in (answerer.explain(q, kw) for kw, q, _ in triples)]
    finally:
        answerer.cal = saved


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> tuple[float, float]:
    a = b = 0.0
    for _ in range(50):  # Newton steps on the L2-penalised log loss
        p = 1 / (1 + np.exp(-(a * x + b)))
        g = np.array([np.sum((p - y) * x) + l2 * a, np.sum(p - y)])
        h = p * (1 - p)
        H = np.array([[np.sum(h * x * x) + l2, np.sum(h * x)], [np.sum(h * x), np.sum(h) + 1e-9]])
        step = np.linalg.solve(H, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    if a < 0:  # evidence for "yes" must not lower p(yes): a negative slope is noise, keep the intercept only
        m = (y.sum() + 1) / (len(y) + 2)
        a, b = 0.0, math.log(m / (1 - m))
    return float(a), float(b)


def fit_calibration(answerer: SemanticAnswerer, fit) -> dict:
    """{kind: {"majority": p}, "kind:source": {"a", "b", "n"}} from the fit triples."""
    raws = raw_scores(answerer, fit)
    y = np.array([t[2] for t in fit], dtype=float)
    cal: dict = {}
    kinds = [parse_question(q)[0] for _, q, _ in fit]
    for kind in sorted(set(kinds) | {r[0] for r in raws}):
        m = np.array([k == kind for k in kinds])
        cal[kind] = {"majority": float((y[m].sum() + 1) / (m.sum() + 2))}
    for q in sorted({q for _, q, _ in fit}):  # a question asked of >= 5 fit keywords gets its own majority
        m = np.array([t[1] == q for t in fit])
        if m.sum() >= 5:
            cal["question:" + " ".join(q.lower().split())] = {"majority": float((y[m].sum() + 1) / (m.sum() + 2))}
    groups: dict[str, list[int]] = {}
    for i, (kind, raw, src) in enumerate(raws):
        if raw is not None:
            groups.setdefault(f"{kind}:{src}", []).append(i)
    for key, idx in sorted(groups.items()):
        x = np.array([raws[i][1] for i in idx], dtype=float)
        a, b = _logistic(x, y[idx])
        cal[key] = {"a": a, "b": b, "n": len(idx)}
    return cal


def evaluate(answerer: SemanticAnswerer, triples, bins: int = 5) -> dict:
    """Accuracy (all, category = 'isa' questions, per kind), Brier score, reliability table, "no" rates."""
    exp = [answerer.explain(q, kw) for kw, q, _ in triples]
    p = np.array([e[2] for e in exp])
    y = np.array([t[2] for t in triples], dtype=float)
    kinds = np.array([parse_question(q)[0] for _, q, _ in triples])
    pred = p > 0.5
    out = {"triples": len(triples), "accuracy": float((pred == y).mean()), "brier": float(np.mean((p - y) ** 2)),
           "no_rate": float(1 - pred.mean()), "label_no_rate": float(1 - y.mean()), "per_kind": {}}
    for k in sorted(set(kinds)):
        m = kinds == k
        out["per_kind"][k] = {"n": int(m.sum()), "accuracy": float((pred[m] == y[m]).mean()),
                              "no_rate": float(1 - pred[m].mean()), "label_no_rate": float(1 - y[m].mean())}
    out["category_accuracy"] = out["per_kind"].get("isa", {}).get("accuracy", math.nan)
    edges = np.linspace(0, 1, bins + 1)
    table = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if m.any():
            table.append({"bin": f"[{lo:.1f}, {hi:.1f}{']' if hi == 1 else ')'}", "n": int(m.sum()),
                          "mean_p": float(p[m].mean()), "yes_rate": float(y[m].mean())})
    out["reliability"] = table
    out["sources"] = {s: int(sum(e[3] == s for e in exp)) for s in sorted({e[3] for e in exp})}
    return out


def save_calibration(cal: dict, path: Path | str) -> Path:
    """Write the calibration JSON atomically."""
    from medalist.core.io import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(cal, indent=1, sort_keys=True) + "\n")
    return path


class NeighbourFallback:
    """p(yes) for questions WordNet cannot answer, from labelled neighbours (needs an embedder).

    For a question in the labelled ``triples`` (same text, case-insensitive), the answer is the
    similarity-weighted yes-rate of the ``k`` labelled keywords whose MiniLM embeddings are closest to
    the asked keyword (the keyword itself excluded, so fitting on the same triples does not leak);
    other questions go to ``base`` (e.g. :class:`medalist.twentyq.models.EmbeddingAnswerModel`) or 0.5.
    """

    name = "neighbours"

    def __init__(self, triples, embedder, *, k: int = 8, temperature: float = 0.05, base=None) -> None:
        self.embedder, self.k, self.temperature, self.base = embedder, k, temperature, base
        self._by_q: dict[str, list[tuple[str, bool]]] = {}
        for kw, q, y in triples:
            self._by_q.setdefault(" ".join(q.lower().split()), []).append((kw, y))
        self._emb: dict[str, np.ndarray] = {}

    def _vec(self, words: list[str]) -> np.ndarray:
        new = [w for w in dict.fromkeys(words) if w.lower() not in self._emb]
        if new:
            for w, v in zip(new, self.embedder.encode(new)):
                self._emb[w.lower()] = np.asarray(v, dtype=float)
        return np.stack([self._emb[w.lower()] for w in words])

    def p_yes(self, questions, keywords):
        out = np.full((len(questions), len(keywords)), 0.5)
        for i, q in enumerate(questions):
            rows = self._by_q.get(" ".join(str(q).lower().split()))
            for j, kw in enumerate(keywords):
                pool = [(w, y) for w, y in (rows or []) if w.lower() != str(kw).lower()]
                if not pool:
                    if self.base is not None:
                        out[i, j] = float(np.asarray(self.base.p_yes([q], [kw]))[0][0])
                    continue
                sims = self._vec([w for w, _ in pool]) @ self._vec([str(kw)])[0]
                top = np.argsort(-sims)[: self.k]
                wts = np.exp((sims[top] - sims[top].max()) / self.temperature)
                out[i, j] = float(np.sum(wts * np.array([pool[t][1] for t in top])) / wts.sum())
        return out
