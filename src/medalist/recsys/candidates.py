"""Candidate generators: the first stage of a two-stage recommender.

Every generator meets one contract (:class:`CandidateGenerator`): ``fit(train)`` on an
:class:`EncodedTrain`, then ``sparse_scores(rows, depth)`` gives (user, item, score) triples for a
chunk of users and ``pair_scores`` scores arbitrary (user, item) pairs, which the re-ranker uses as
features. The built-in generators (:mod:`medalist.recsys.generators`) stay sparse; a user's own
generator may implement only ``user_scores(rows)`` (a dense block, ``-inf`` = no evidence), which the
base class densifies in bounded blocks. The base class turns scores into top-k candidates per user
(masking items the user has seen) — so a generator is one small class, registered by name and
configured in YAML::

    candidates:
      - {name: popular, k: 50}
      - {name: covisit, k: 50, window_days: 1, neighbors: 20}

Users never seen in training get candidates only from generators that need no history
(``needs_history = False``: popularity); that is the cold-start fallback.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from medalist.core.errors import ConfigError, did_you_mean
from medalist.core.registry import Registry

__all__ = ["EncodedTrain", "CandidateGenerator", "GENERATORS", "make_generator", "list_generators", "get_generator",
           "register_generator"]

GENERATORS: Registry = Registry("candidate generator")
_DAY = 86400.0
_CHUNK_CELLS = 1 << 23  # dense fallback: blocks of at most ~8M cells (32 MiB of float32)
CHUNK_USERS = 20_000  # candidates are computed for this many users at a time


@dataclass
class EncodedTrain:
    """Training interactions with users and items mapped to dense row/column indices."""

    frame: pl.DataFrame  # user, item, time, weight, u (row), i (column)
    users: np.ndarray  # row -> user id
    items: np.ndarray  # column -> item id
    seen: sp.csr_matrix  # users x items, summed weights
    last_time: np.ndarray  # row -> the user's latest training time

    @classmethod
    def build(cls, train: pl.DataFrame) -> "EncodedTrain":
        users = train["user"].unique().sort()
        items = train["item"].unique().sort()
        umap = pl.DataFrame({"user": users, "u": np.arange(len(users), dtype=np.int64)})
        imap = pl.DataFrame({"item": items, "i": np.arange(len(items), dtype=np.int64)})
        frame = train.join(umap, on="user").join(imap, on="item")
        seen = sp.csr_matrix(
            (frame["weight"].to_numpy().astype(np.float32), (frame["u"].to_numpy(), frame["i"].to_numpy())),
            shape=(len(users), len(items)),
        )
        seen.sum_duplicates()
        last = frame.group_by("u").agg(pl.col("time").max()).sort("u")["time"].to_numpy()
        return cls(frame, users.to_numpy(), items.to_numpy(), seen, last)

    @property
    def item_series(self) -> pl.Series:
        """Column -> item id, with the training frame's dtype (numpy would turn strings into objects)."""
        return pl.Series("item", self.items, dtype=self.frame["item"].dtype)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def rows_of(self, users: pl.Series) -> np.ndarray:
        """Row index of each user; -1 for users never seen in training (cold start)."""
        m = pl.DataFrame({"user": pl.Series(self.users, dtype=self.frame["user"].dtype), "u": np.arange(self.n_users, dtype=np.int64)})
        # an id of another type (a string id for int-keyed training) can only be a new user
        asked = pl.Series("user", users).cast(m["user"].dtype, strict=False)
        return pl.DataFrame({"user": asked}).join(m, on="user", how="left")["u"].fill_null(-1).to_numpy()

    def cols_of(self, items: pl.Series) -> np.ndarray:
        """Column index of each item; -1 for items never seen in training."""
        m = pl.DataFrame({"item": self.item_series, "i": np.arange(self.n_items, dtype=np.int64)})
        asked = pl.Series("item", items).cast(m["item"].dtype, strict=False)
        return pl.DataFrame({"item": asked}).join(m, on="item", how="left")["i"].fill_null(-1).to_numpy()


class CandidateGenerator(ABC):
    """One way to propose items for a user. Subclasses implement ``_fit`` and ``user_scores``.

    Constructors only store parameters (``k`` = candidates per user); fitted state ends in ``_``.
    """

    name = "base"
    needs_history = True  # False: scores a user without history (cold start) too
    repeats = False  # True: proposes items the user has already interacted with

    def __init__(self, *, k: int = 50) -> None:
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"candidates: {self.name}: k", expected="a positive integer", found=repr(k))
        self.k = k

    def fit(self, train: EncodedTrain) -> "CandidateGenerator":
        self.train_ = train
        self._fit(train)
        return self

    @abstractmethod
    def _fit(self, train: EncodedTrain) -> None: ...

    @abstractmethod
    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        """Scores (len(rows), n_items) for user rows (-1 = cold user); -inf where there is no evidence."""

    def params(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in inspect.signature(type(self).__init__).parameters if n != "self"}

    def sparse_scores(self, rows: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Finite scores for user ``rows`` as COO triples ``(position in rows, item column, score)``.

        ``depth[p]`` is how many items row p needs at least (``k`` + its seen items when those are
        masked), so a global list (popularity) emits ``depth`` items per user, not the catalogue.
        The default densifies :meth:`user_scores` in blocks: override it to stay sparse.
        """
        rr, cc, ss = [], [], []
        step = max(1, _CHUNK_CELLS // max(1, self.train_.n_items))
        for start in range(0, len(rows), step):
            s = np.asarray(self.user_scores(rows[start : start + step]), dtype=np.float32)
            r, c = np.nonzero(np.isfinite(s))
            rr.append(r + start)
            cc.append(c)
            ss.append(s[r, c])
        return _cat(rr), _cat(cc), _cat(ss, np.float32)

    def pair_scores(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Score of each (row, column) pair (rows >= 0 unless ``needs_history`` is False; cols >= 0);
        NaN where there is none. The default densifies :meth:`user_scores` per block of distinct users."""
        out = np.full(len(rows), np.nan, dtype=np.float32)
        uniq, inv = np.unique(rows, return_inverse=True)
        step = max(1, _CHUNK_CELLS // max(1, self.train_.n_items))
        for start in range(0, len(uniq), step):
            s = np.asarray(self.user_scores(uniq[start : start + step]))
            sel = np.flatnonzero((inv >= start) & (inv < start + step))
            vals = s[inv[sel] - start, cols[sel]]
            out[sel] = np.where(np.isfinite(vals), vals, np.nan)
        return out

    # ------------------------------------------------------------------ shared machinery
    def candidates(self, users: pl.Series, *, exclude_seen: bool = True, chunk_users: int = CHUNK_USERS) -> pl.DataFrame:
        """Top-``k`` items per user as ``user, item, score, rank`` (rank 1 = best).

        Computed from sparse (user, item, score) triples ``chunk_users`` users at a time, so memory
        is bounded by the chunk's candidates, never users × items. Users this generator cannot score
        (cold users of a history-based generator) get no rows; a user whose every item is masked
        gets none either — callers must expect empty sets.
        """
        tr = self.train_
        users = pl.Series("user", users)
        rows = tr.rows_of(users)
        n_seen = np.diff(tr.seen.indptr)
        out_u, out_i, out_s, out_r = [], [], [], []
        for start in range(0, len(rows), chunk_users):
            block = rows[start : start + chunk_users]
            ok = np.flatnonzero(block >= 0) if self.needs_history else np.arange(len(block))
            if len(ok) == 0:
                continue
            brows = block[ok]
            depth = np.full(len(brows), self.k, dtype=np.int64)
            if exclude_seen:
                depth += np.where(brows >= 0, n_seen[np.maximum(brows, 0)], 0)
            r, c, s = self.sparse_scores(brows, depth)
            keep = np.isfinite(s)
            if exclude_seen and len(r):
                warm = brows[r] >= 0
                hit = np.zeros(len(r), bool)
                if warm.any():
                    hit[warm] = np.asarray(tr.seen[brows[r[warm]], c[warm]]).ravel() != 0
                keep &= ~hit
            r, c, s = r[keep], c[keep], s[keep]
            order = np.lexsort((c, -s, r))
            r, c, s = r[order], c[order], s[order]
            rank = _rank_within(r)
            top = rank <= self.k
            out_u.append(ok[r[top]] + start)
            out_i.append(c[top])
            out_s.append(s[top])
            out_r.append(rank[top])
        return pl.DataFrame({
            "user": users.gather(_cat(out_u)), "item": tr.item_series.gather(_cat(out_i)),
            "score": pl.Series(_cat(out_s, np.float32), dtype=pl.Float32), "rank": pl.Series(_cat(out_r), dtype=pl.Int64),
        })

    def score_pairs(self, pairs: pl.DataFrame) -> np.ndarray:
        """This generator's score for each (user, item) row of ``pairs``; NaN where it has none."""
        tr = self.train_
        out = np.full(pairs.height, np.nan, dtype=np.float32)
        if pairs.height == 0:
            return out
        rows, cols = tr.rows_of(pairs["user"]), tr.cols_of(pairs["item"])
        good = (cols >= 0) & ((rows >= 0) | (not self.needs_history))
        idx = np.flatnonzero(good)
        if len(idx):
            vals = np.asarray(self.pair_scores(rows[idx], cols[idx]), dtype=np.float32)
            out[idx] = np.where(np.isfinite(vals), vals, np.nan)
        return out


def _cat(parts: list, dtype=np.int64) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _rank_within(sorted_groups: np.ndarray) -> np.ndarray:
    """1-based position of each element inside its run of equal values (input sorted by group)."""
    n = len(sorted_groups)
    if n == 0:
        return np.zeros(0, np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.arange(n, dtype=np.int64) - first + 1


def _take_prefix(order: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a ranked list ``order`` and per-row depths: (row positions, list positions) of each row's prefix."""
    d = np.minimum(depth, len(order))
    r = np.repeat(np.arange(len(d)), d)
    pos = _rank_within(r) - 1 if len(r) else np.zeros(0, np.int64)
    return r, pos


def register_generator(name: str, *, overwrite: bool = False):
    """Class decorator: register a :class:`CandidateGenerator` subclass as ``name`` (``candidates: [{name: ...}]``)."""

    def deco(cls: type[CandidateGenerator]) -> type[CandidateGenerator]:
        if "name" not in cls.__dict__:  # error messages and candidate labels use the registered name
            cls.name = name
        return GENERATORS.register(name, cls, overwrite=overwrite)

    return deco


def get_generator(name: str) -> type[CandidateGenerator]:
    """The generator class registered as ``name`` (ConfigError with a did-you-mean if unknown)."""
    return GENERATORS.get(name)


# ---------------------------------------------------------------------------- generators
def list_generators() -> list[str]:
    """Registered candidate generator names.

    >>> "covisit" in list_generators()
    True
    """
    return GENERATORS.names()


def make_generator(spec: str | dict[str, Any]) -> CandidateGenerator:
    """Build a generator from ``"popular"`` or ``{"name": "covisit", "k": 50, ...}``.

    >>> make_generator({"name": "recent", "k": 20, "window_days": 7}).params()
    {'k': 20, 'window_days': 7, 'relative_to': 'user'}
    """
    params = {"name": spec} if isinstance(spec, str) else dict(spec)
    if "name" not in params:
        raise ConfigError("candidates", expected="a name or a mapping with a 'name' key", found=repr(spec),
                          fix="write e.g. {name: popular, k: 50}")
    name = str(params.pop("name"))
    params.pop("label", None)
    cls = GENERATORS.get(name)
    allowed = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
    for key in params:
        if key not in allowed:
            raise ConfigError(f"candidates: {name}: '{key}'", expected=f"one of {', '.join(allowed)}",
                              found=f"'{key}'{did_you_mean(key, allowed)}", fix=f"remove '{key}'")
    return cls(**params)


# the built-in generators register themselves on import (they build on the contract above)
from medalist.recsys.generators import (  # noqa: E402
    CoVisitation,
    History,
    MatrixFactorization,
    Popular,
    RecentPopular,
)

__all__ += ["CoVisitation", "History", "MatrixFactorization", "Popular", "RecentPopular"]
