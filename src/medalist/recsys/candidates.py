"""Candidate generators: the first stage of a two-stage recommender.

Every generator meets one contract (:class:`CandidateGenerator`): ``fit(train)`` on an
:class:`EncodedTrain`, then ``user_scores(rows)`` gives a dense block of scores (users × items,
``-inf`` = no evidence). The base class turns that into top-k candidates per user (masking items
the user has seen) and into scores for arbitrary (user, item) pairs, which the re-ranker uses as
features — so a generator is one small class, registered by name and configured in YAML::

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
from medalist.core.optional import require
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
@register_generator("popular")
class Popular(CandidateGenerator):
    """Most interacted items overall (distinct users): the baseline and the cold-start fallback.

    Sparse: one ranked list; each user takes its first ``k`` + (seen items) entries.
    """

    name = "popular"
    needs_history = False

    def _fit(self, train: EncodedTrain) -> None:
        self.counts_ = np.diff((train.seen > 0).tocsc().indptr).astype(np.float32)
        order = np.lexsort((np.arange(len(self.counts_)), -self.counts_))
        self.order_ = order[self.counts_[order] > 0]

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts_, (len(rows), len(self.counts_)))

    def sparse_scores(self, rows, depth):
        r, pos = _take_prefix(self.order_, depth)
        c = self.order_[pos]
        return r, c, self.counts_[c]

    def pair_scores(self, rows, cols):
        return self.counts_[cols]


@register_generator("recent")
class RecentPopular(CandidateGenerator):
    """Items most interacted with in the ``window_days`` before each user's last interaction.

    "Recent" is relative to the user (``relative_to: user``): in a log spanning years, what was
    popular when the user was active beats what is popular today. ``relative_to: global`` uses the
    end of the training data for everyone (and for cold users always). Windows end at calendar-day
    boundaries, so users share one ranked list per day (popularity by time window).
    """

    name = "recent"
    needs_history = False
    _CACHE = 4096

    def __init__(self, *, k: int = 50, window_days: float = 30.0, relative_to: str = "user") -> None:
        super().__init__(k=k)
        if not window_days > 0:
            raise ConfigError("candidates: recent: window_days", expected="a positive number of days", found=repr(window_days))
        if relative_to not in ("user", "global"):
            raise ConfigError("candidates: recent: relative_to", expected="'user' or 'global'",
                              found=f"'{relative_to}'{did_you_mean(relative_to, ['user', 'global'])}")
        self.window_days, self.relative_to = window_days, relative_to

    def _fit(self, train: EncodedTrain) -> None:
        f = train.frame.select("i", "time").sort("time")
        self.times_ = f["time"].to_numpy()
        self.cols_ = f["i"].to_numpy()
        self.end_ = float(self.times_[-1])
        self.cache_: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        # (item, time rank) keys sorted: a pair's window count is two binary searches
        self.utimes_ = np.unique(self.times_)
        self.keys_ = np.sort(self.cols_.astype(np.int64) * (len(self.utimes_) + 2) + np.searchsorted(self.utimes_, self.times_))

    def _days(self, rows: np.ndarray) -> np.ndarray:
        if self.relative_to == "global":
            t = np.full(len(rows), self.end_)
        else:
            t = np.where(rows >= 0, self.train_.last_time[np.maximum(rows, 0)], self.end_)
        return np.ceil(t / _DAY) * _DAY  # one ranked list per calendar day, shared by users

    def _list(self, day: float) -> tuple[np.ndarray, np.ndarray]:
        if day not in self.cache_:
            lo = np.searchsorted(self.times_, day - self.window_days * _DAY, side="left")
            hi = np.searchsorted(self.times_, day, side="right")
            cols, counts = np.unique(self.cols_[lo:hi], return_counts=True)
            order = np.lexsort((cols, -counts))
            if len(self.cache_) >= self._CACHE:
                self.cache_.clear()
            self.cache_[day] = (cols[order], counts[order].astype(np.float32))
        return self.cache_[day]

    def _counts_until(self, t: float) -> np.ndarray:
        c = np.full(self.train_.n_items, -np.inf, np.float32)
        cols, counts = self._list(float(np.ceil(t / _DAY) * _DAY))
        c[cols] = counts
        return c

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        days = self._days(rows)
        return np.stack([self._counts_until(t) for t in days]) if len(days) else np.zeros((0, self.train_.n_items), np.float32)

    def sparse_scores(self, rows, depth):
        days = self._days(rows)
        uniq, inv = np.unique(days, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(inv, minlength=len(uniq)))]
        rr, cc, ss = [], [], []
        for j, day in enumerate(uniq):
            idx = order[bounds[j] : bounds[j + 1]]
            cols, counts = self._list(float(day))
            r, pos = _take_prefix(cols, depth[idx])
            rr.append(idx[r])
            cc.append(cols[pos])
            ss.append(counts[pos])
        return _cat(rr), _cat(cc), _cat(ss, np.float32)

    def pair_scores(self, rows, cols):
        days = self._days(rows)
        base = cols.astype(np.int64) * (len(self.utimes_) + 2)
        lo = np.searchsorted(self.keys_, base + np.searchsorted(self.utimes_, days - self.window_days * _DAY, side="left"))
        hi = np.searchsorted(self.keys_, base + np.searchsorted(self.utimes_, days, side="right"))
        n = (hi - lo).astype(np.float32)
        n[n == 0] = np.nan
        return n


@register_generator("history")
class History(CandidateGenerator):
    """The user's own items, by summed weight (repeat purchases, re-watches). Needs ``exclude_seen: false``.

    ``recency_days``: weight each interaction by ``exp(-age / recency_days)``, age measured back from
    the user's last interaction, so recently bought items outrank old favourites.
    """

    name = "history"
    repeats = True

    def __init__(self, *, k: int = 50, recency_days: float | None = None) -> None:
        super().__init__(k=k)
        if recency_days is not None and not recency_days > 0:
            raise ConfigError("candidates: history: recency_days", expected="a positive number of days or null",
                              found=repr(recency_days))
        self.recency_days = recency_days

    def _fit(self, train: EncodedTrain) -> None:
        if self.recency_days is None:
            self.seen_ = train.seen
            return
        f = train.frame
        age = (train.last_time[f["u"].to_numpy()] - f["time"].to_numpy()) / _DAY
        w = (f["weight"].to_numpy() * np.exp(-age / self.recency_days)).astype(np.float32)
        m = sp.csr_matrix((np.maximum(w, 1e-30), (f["u"].to_numpy(), f["i"].to_numpy())), shape=train.seen.shape)
        m.sum_duplicates()
        self.seen_ = m

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        s = self.seen_[rows].toarray()
        s[s == 0] = -np.inf
        return s

    def sparse_scores(self, rows, depth):
        sub = self.seen_[rows].tocoo()
        return sub.row, sub.col, sub.data

    def pair_scores(self, rows, cols):
        v = np.asarray(self.seen_[rows, cols]).ravel().astype(np.float32)
        v[v == 0] = np.nan
        return v


@register_generator("covisit")
class CoVisitation(CandidateGenerator):
    """Item-to-item co-visitation: items interacted with within ``window_days`` of the same user's items.

    Pairs come from each interaction and its next ``neighbors`` interactions of the same user
    (both directions), counted with Polars one lag at a time, so time and memory are linear in the
    log. ``weighted``: a pair counts the weight of the proposed item's event (OTTO-style type
    weights: click 1, cart 6, order 3 as the event weight). Each item keeps its ``top`` strongest
    neighbours (a sparse item × item matrix). A user is scored from their last ``history`` items:
    ``score(j) = sum_i covis(i, j)``, co-counts normalised by item popularity when ``normalize``
    (a cosine-like weight that stops blockbusters dominating every list).
    """

    name = "covisit"

    def __init__(self, *, k: int = 50, window_days: float = 1.0, neighbors: int = 20, history: int = 20,
                 normalize: bool = True, weighted: bool = False, top: int = 100) -> None:
        super().__init__(k=k)
        if not window_days > 0 or neighbors < 1 or history < 1 or top < 1:
            raise ConfigError("candidates: covisit", expected="window_days > 0, neighbors >= 1, history >= 1, top >= 1",
                              found=f"window_days={window_days}, neighbors={neighbors}, history={history}, top={top}")
        self.window_days, self.neighbors, self.history, self.normalize = window_days, neighbors, history, normalize
        self.weighted, self.top = weighted, top

    def _fit(self, train: EncodedTrain) -> None:
        f = train.frame.sort(["u", "time", "i"]).select("u", "i", "time", "weight")
        n = train.n_items
        u, i, t = f["u"].to_numpy(), f["i"].to_numpy().astype(np.int64), f["time"].to_numpy()
        wt = f["weight"].to_numpy().astype(np.float32)
        parts = []
        for lag in range(1, self.neighbors + 1):  # each event with its lag-th successor of the same user
            if lag >= len(u):
                break
            m = (u[:-lag] == u[lag:]) & ((t[lag:] - t[:-lag]) <= self.window_days * _DAY) & (i[:-lag] != i[lag:])
            if not m.any():
                break
            a, b = i[:-lag][m], i[lag:][m]
            if self.weighted:  # directed: a pair counts the weight of the proposed item's event
                part = pl.DataFrame({"key": np.r_[a * n + b, b * n + a], "w": np.r_[wt[lag:][m], wt[:-lag][m]]})
            else:  # symmetric: count each unordered pair once, mirror after aggregating
                part = pl.DataFrame({"key": np.minimum(a, b) * n + np.maximum(a, b), "w": np.ones(len(a), np.float32)})
            parts.append(part.group_by("key").agg(pl.col("w").sum()))  # one int64 key: a hash aggregation
        if parts:
            acc = pl.concat(parts).group_by("key").agg(pl.col("w").sum()) if len(parts) > 1 else parts[0]
            key = acc["key"].to_numpy()
            a, b, w = key // n, key % n, acc["w"].to_numpy().astype(np.float32)
            if not self.weighted:
                a, b, w = np.r_[a, b], np.r_[b, a], np.r_[w, w]
            if self.normalize:
                pop = np.diff((train.seen > 0).tocsc().indptr).astype(np.float32)
                inv = 1.0 / np.sqrt(np.maximum(pop, 1.0))
                w = w * inv[a] * inv[b]
            top = pl.DataFrame({"a": a, "b": b, "w": w}).sort(["a", "w", "b"], descending=[False, True, False])
            sa = top["a"].to_numpy()
            keep = _rank_within(sa) <= self.top  # per item a: its strongest neighbours
            co = sp.csr_matrix((top["w"].to_numpy()[keep], (sa[keep], top["b"].to_numpy()[keep])), shape=(n, n))
        else:
            co = sp.csr_matrix((n, n), dtype=np.float32)
        self.co_ = co.tocsr()
        last = (train.frame.sort(["u", "time"], descending=[False, True])
                .with_columns(pl.int_range(pl.len()).over("u").alias("_k"))
                .filter(pl.col("_k") < self.history))
        self.hist_ = sp.csr_matrix(
            (np.ones(last.height, np.float32), (last["u"].to_numpy(), last["i"].to_numpy())), shape=(train.n_users, n))

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        s = (self.hist_[rows] @ self.co_).toarray()
        s[s == 0] = -np.inf
        return s

    def sparse_scores(self, rows, depth):
        s = (self.hist_[rows] @ self.co_).tocoo()
        nz = s.data != 0
        return s.row[nz], s.col[nz], s.data[nz]

    def pair_scores(self, rows, cols):
        out = np.full(len(rows), np.nan, np.float32)
        uniq, inv = np.unique(rows, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        bounds = np.searchsorted(inv[order], np.arange(0, len(uniq) + CHUNK_USERS, CHUNK_USERS))
        for b0, b1, u0 in zip(bounds[:-1], bounds[1:], range(0, len(uniq), CHUNK_USERS)):  # noqa: B905
            sel = order[b0:b1]
            if len(sel) == 0:
                continue
            s = (self.hist_[uniq[u0 : u0 + CHUNK_USERS]] @ self.co_).tocsr()
            v = np.asarray(s[inv[sel] - u0, cols[sel]]).ravel()
            out[sel] = np.where(v != 0, v, np.nan)
        return out


@register_generator("mf")
class MatrixFactorization(CandidateGenerator):
    """Matrix factorisation of the user × item matrix: ``backend: svd`` (scikit-learn TruncatedSVD,
    always installed) or ``als`` (implicit's AlternatingLeastSquares, ``pip install 'medalist[recsys]'``).

    Score = user factor · item factor; interactions enter as binary (``svd``) or as confidence
    ``1 + alpha * weight`` (``als``).
    """

    name = "mf"
    _BACKENDS = ("svd", "als")

    def __init__(self, *, k: int = 50, backend: str = "svd", factors: int = 64, iterations: int = 15,
                 regularization: float = 0.05, alpha: float = 1.0, seed: int = 42, threads: int = 1) -> None:
        super().__init__(k=k)
        if backend not in self._BACKENDS:
            raise ConfigError("candidates: mf: backend", expected="'svd' or 'als'",
                              found=f"'{backend}'{did_you_mean(backend, self._BACKENDS)}")
        if factors < 1:
            raise ConfigError("candidates: mf: factors", expected="a positive integer", found=repr(factors))
        self.backend, self.factors, self.iterations = backend, factors, iterations
        self.regularization, self.alpha, self.seed, self.threads = regularization, alpha, seed, threads

    def _fit(self, train: EncodedTrain) -> None:
        x = train.seen.astype(np.float32)
        f = max(1, min(self.factors, min(x.shape) - 1))
        if self.backend == "svd":
            from sklearn.decomposition import TruncatedSVD

            binary = (x > 0).astype(np.float32)
            svd = TruncatedSVD(n_components=f, random_state=self.seed)
            self.user_f_ = svd.fit_transform(binary).astype(np.float32)
            self.item_f_ = svd.components_.T.astype(np.float32)
        else:
            AlternatingLeastSquares = require("implicit.als", extra="recsys", purpose="mf backend 'als'").AlternatingLeastSquares
            from threadpoolctl import threadpool_limits

            conf = x.copy()
            conf.data = 1.0 + self.alpha * conf.data
            with threadpool_limits(1, "blas"):  # implicit parallelises itself; nested BLAS threads thrash
                als = AlternatingLeastSquares(factors=f, regularization=self.regularization, iterations=self.iterations,
                                              random_state=self.seed, num_threads=self.threads)
                als.fit(conf.tocsr(), show_progress=False)
            to_np = (lambda a: a.to_numpy() if hasattr(a, "to_numpy") else np.asarray(a))
            self.user_f_, self.item_f_ = to_np(als.user_factors), to_np(als.item_factors)

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        return self.user_f_[rows].astype(np.float64) @ self.item_f_.T.astype(np.float64)

    def pair_scores(self, rows, cols):  # float64 like user_scores: candidates and features agree exactly
        return np.einsum("ij,ij->i", self.user_f_[rows].astype(np.float64), self.item_f_[cols].astype(np.float64))


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
