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
_CHUNK_CELLS = 1 << 23  # scores computed in blocks of at most ~8M cells (32 MiB of float32)


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

    # ------------------------------------------------------------------ shared machinery
    def _blocks(self, rows: np.ndarray):
        step = max(1, _CHUNK_CELLS // max(1, self.train_.n_items))
        for start in range(0, len(rows), step):
            yield start, rows[start : start + step]

    def candidates(self, users: pl.Series, *, exclude_seen: bool = True) -> pl.DataFrame:
        """Top-``k`` items per user as ``user, item, score, rank`` (rank 1 = best).

        Users this generator cannot score (cold users of a history-based generator) get no rows;
        a user whose every item is masked gets none either — callers must expect empty sets.
        """
        tr = self.train_
        rows = tr.rows_of(users)
        out_u, out_i, out_s, out_r = [], [], [], []
        for start, block in self._blocks(rows):
            ok = block >= 0 if self.needs_history else np.ones(len(block), bool)
            if not ok.any():
                continue
            scores = self.user_scores(block[ok]).astype(np.float32, copy=True)
            if exclude_seen:
                warm = np.flatnonzero(block[ok] >= 0)
                sub = tr.seen[block[ok][warm]].tocoo()
                scores[warm[sub.row], sub.col] = -np.inf
            k = min(self.k, tr.n_items)
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < tr.n_items else np.tile(np.arange(tr.n_items), (len(scores), 1))
            top_s = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_s, axis=1, kind="stable")
            top, top_s = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_s, order, axis=1)
            keep = np.isfinite(top_s)
            ranks = np.cumsum(keep, axis=1)
            uidx = np.flatnonzero(ok)[:, None].repeat(k, axis=1) + start
            out_u.append(uidx[keep])
            out_i.append(top[keep])
            out_s.append(top_s[keep])
            out_r.append(ranks[keep])
        cat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64))  # noqa: E731
        return pl.DataFrame({
            "user": pl.Series("user", users).gather(cat(out_u)), "item": tr.item_series.gather(cat(out_i)),
            "score": pl.Series(cat(out_s), dtype=pl.Float32), "rank": pl.Series(cat(out_r), dtype=pl.Int64),
        })

    def score_pairs(self, pairs: pl.DataFrame) -> np.ndarray:
        """This generator's score for each (user, item) row of ``pairs``; NaN where it has none."""
        tr = self.train_
        out = np.full(pairs.height, np.nan, dtype=np.float32)
        if pairs.height == 0:
            return out
        rows, cols = tr.rows_of(pairs["user"]), tr.cols_of(pairs["item"])
        uniq, inv = np.unique(rows, return_inverse=True)
        for start, block in self._blocks(uniq):
            ok = block >= 0 if self.needs_history else np.ones(len(block), bool)
            if not ok.any():
                continue
            scores = self.user_scores(block[ok])
            pos = np.full(len(block), -1)
            pos[ok] = np.arange(ok.sum())
            sel = np.flatnonzero((inv >= start) & (inv < start + len(block)))
            p = pos[inv[sel] - start]
            good = (p >= 0) & (cols[sel] >= 0)
            vals = scores[p[good], cols[sel][good]]
            out[sel[good]] = np.where(np.isfinite(vals), vals, np.nan)
        return out


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
    """Most interacted items overall (distinct users): the baseline and the cold-start fallback."""

    name = "popular"
    needs_history = False

    def _fit(self, train: EncodedTrain) -> None:
        self.counts_ = np.asarray((train.seen > 0).sum(axis=0)).ravel().astype(np.float32)

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts_, (len(rows), len(self.counts_)))


@register_generator("recent")
class RecentPopular(CandidateGenerator):
    """Items most interacted with in the ``window_days`` before each user's last interaction.

    "Recent" is relative to the user (``relative_to: user``): in a log spanning years, what was
    popular when the user was active beats what is popular today. ``relative_to: global`` uses the
    end of the training data for everyone (and for cold users always).
    """

    name = "recent"
    needs_history = False

    def __init__(self, *, k: int = 50, window_days: float = 30.0, relative_to: str = "user") -> None:
        super().__init__(k=k)
        if not window_days > 0:
            raise ConfigError("candidates: recent: window_days", expected="a positive number of days", found=repr(window_days))
        if relative_to not in ("user", "global"):
            raise ConfigError("candidates: recent: relative_to", expected="'user' or 'global'",
                              found=f"'{relative_to}'{did_you_mean(relative_to, ['user', 'global'])}")
        self.window_days, self.relative_to = window_days, relative_to

    def _fit(self, train: EncodedTrain) -> None:
        f = train.frame.sort("time")
        self.times_ = f["time"].to_numpy()
        self.cols_ = f["i"].to_numpy()
        self.end_ = float(self.times_[-1])
        self.cache_: dict[float, np.ndarray] = {}

    def _counts_until(self, t: float) -> np.ndarray:
        day = float(np.ceil(t / _DAY) * _DAY)  # one count vector per calendar day, shared by users
        if day not in self.cache_:
            lo = np.searchsorted(self.times_, day - self.window_days * _DAY, side="left")
            hi = np.searchsorted(self.times_, day, side="right")
            c = np.bincount(self.cols_[lo:hi], minlength=self.train_.n_items).astype(np.float32)
            c[c == 0] = -np.inf
            self.cache_[day] = c
        return self.cache_[day]

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        last = self.train_.last_time
        ends = [self.end_ if (r < 0 or self.relative_to == "global") else float(last[r]) for r in rows]
        return np.stack([self._counts_until(t) for t in ends]) if len(ends) else np.zeros((0, self.train_.n_items), np.float32)


@register_generator("history")
class History(CandidateGenerator):
    """The user's own items, by summed weight (repeat purchases, re-watches). Needs ``exclude_seen: false``."""

    name = "history"
    repeats = True

    def _fit(self, train: EncodedTrain) -> None:
        self.seen_ = train.seen

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        s = self.seen_[rows].toarray()
        s[s == 0] = -np.inf
        return s


@register_generator("covisit")
class CoVisitation(CandidateGenerator):
    """Item-to-item co-visitation: items interacted with within ``window_days`` of the same user's items.

    Pairs come from each interaction and its next ``neighbors`` interactions of the same user
    (both directions), so the cost is linear in the log. A user is scored from their last
    ``history`` items: ``score(j) = sum_i covis(i, j)``, co-counts normalised by item popularity
    when ``normalize`` (a cosine-like weight that stops blockbusters dominating every list).
    """

    name = "covisit"

    def __init__(self, *, k: int = 50, window_days: float = 1.0, neighbors: int = 20, history: int = 20,
                 normalize: bool = True) -> None:
        super().__init__(k=k)
        if not window_days > 0 or neighbors < 1 or history < 1:
            raise ConfigError("candidates: covisit", expected="window_days > 0, neighbors >= 1, history >= 1",
                              found=f"window_days={window_days}, neighbors={neighbors}, history={history}")
        self.window_days, self.neighbors, self.history, self.normalize = window_days, neighbors, history, normalize

    def _fit(self, train: EncodedTrain) -> None:
        f = train.frame.sort(["u", "time", "i"]).select("u", "i", "time")
        parts = []
        for lag in range(1, self.neighbors + 1):
            nxt = f.select(pl.col("u").shift(-lag).alias("u2"), pl.col("i").shift(-lag).alias("j"),
                           pl.col("time").shift(-lag).alias("t2"))
            pair = pl.concat([f, nxt], how="horizontal").filter(
                (pl.col("u") == pl.col("u2")) & ((pl.col("t2") - pl.col("time")) <= self.window_days * _DAY)
                & (pl.col("i") != pl.col("j"))
            ).select("i", "j")
            if pair.height == 0:
                break
            parts.append(pair)
        n = train.n_items
        if parts:
            p = pl.concat(parts)
            a, b = p["i"].to_numpy(), p["j"].to_numpy().astype(np.int64)
            co = sp.csr_matrix((np.ones(2 * len(a), np.float32), (np.r_[a, b], np.r_[b, a])), shape=(n, n))
            co.sum_duplicates()
        else:
            co = sp.csr_matrix((n, n), dtype=np.float32)
        if self.normalize:
            pop = np.asarray((train.seen > 0).sum(axis=0)).ravel().astype(np.float32)
            inv = 1.0 / np.sqrt(np.maximum(pop, 1.0))
            co = sp.diags(inv) @ co @ sp.diags(inv)
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
        return self.user_f_[rows] @ self.item_f_.T


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
