"""The built-in candidate generators (``popular``, ``recent``, ``history``, ``covisit``, ``mf``).

Each is one small class on the :class:`~medalist.recsys.candidates.CandidateGenerator` contract,
registered by name; :mod:`medalist.recsys.candidates` imports this module so that the names resolve.
Scores are sparse (user, item, score) triples computed a chunk of users at a time, never a
users × items block.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from medalist.core.errors import ConfigError, did_you_mean
from medalist.core.optional import require
from medalist.recsys.candidates import (
    _DAY,
    CHUNK_USERS,
    CandidateGenerator,
    EncodedTrain,
    _cat,
    _rank_within,
    _take_prefix,
    register_generator,
)

__all__ = ["CoVisitation", "History", "MatrixFactorization", "Popular", "RecentPopular"]


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
