"""The Bayesian guesser: posterior over candidates, MAP guess, entropy-minimising question.

posterior(k) ∝ prior(k) · Π_t p(a_t | q_t, k), with an answerer-noise model
p(yes | q, k) = ε + (1 − 2ε)·p_model(yes | q, k): an answerer that flips an answer with probability ε
cannot rule a candidate out for good. Wrongly guessed candidates get zero mass (the guess is a free
test). The next question minimises the expected entropy of the posterior *after* this round's guess
("guess-aware": a branch whose MAP guess would be right ends the game with entropy 0), vectorised
over the question bank and, for alphabetical questions, over every split of the sorted candidate
list at once with prefix sums.

"Is it Agent Alpha?" handshake: an answerer that says yes promises exact alphabetical answers, so the
guesser bisects the prior mass of the candidates still consistent (ε = 0); if the answers contradict
(nothing left) or the answer was no, it falls back to the noisy entropy mode on the whole history.

Pure numpy + the rules module: copied verbatim into the Kaggle submission.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rules import (
    ALPHA_QUESTION,
    alpha_order_question,
    normalize_guess,
    parse_rule,
    rule_truth,
)

__all__ = ["Choice", "Guesser", "expected_entropy", "posterior_weights"]

_FALLBACK_QUESTION = "Is it a physical object?"
_EPS_FLOOR = 0.05  # noise assumed once answers believed exact turn out contradictory


def _xlogx(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    out = np.zeros_like(x)
    pos = x > 0
    out[pos] = x[pos] * np.log(x[pos])
    return out


def posterior_weights(prior: np.ndarray, likelihoods: list[np.ndarray], answers: list[bool], eps: float,
                      excluded: np.ndarray | None = None) -> np.ndarray:
    """Normalised posterior from a prior, per-question p(yes|q,k) vectors and yes/no answers.

    >>> posterior_weights(np.array([0.5, 0.5]), [np.array([1.0, 0.0])], [True], 0.1).round(3).tolist()
    [0.9, 0.1]
    """
    with np.errstate(divide="ignore"):  # a zero likelihood (eps = 0) rules a candidate out: log 0 = -inf
        logw = np.log(np.asarray(prior, dtype=float))
        for p, yes in zip(likelihoods, answers):
            pt = eps + (1.0 - 2.0 * eps) * p
            logw = logw + np.log(np.clip(pt if yes else 1.0 - pt, 0.0, None))
    if excluded is not None:
        logw[excluded] = -np.inf
    if not np.isfinite(logw).any():
        return np.zeros_like(logw)
    w = np.exp(logw - logw.max())
    return w / w.sum()


def expected_entropy(w: np.ndarray, P: np.ndarray, eps: float, guess_aware: bool = True) -> np.ndarray:
    """Expected posterior entropy (nats) after asking each row of ``P`` (m × n p(yes|q,k)).

    With ``guess_aware`` the MAP guess of each answer branch is taken out first (a right guess ends
    the game, a wrong one is a free test).

    >>> w = np.full(4, 0.25)
    >>> P = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=float)
    >>> expected_entropy(w, P, 0.0, guess_aware=False).round(4).tolist()   # ln 2 vs 3/4·ln 3
    [0.6931, 0.824]
    """
    P = np.atleast_2d(P)
    pt = eps + (1.0 - 2.0 * eps) * P
    A = pt * w
    B = w - A
    out = np.zeros(P.shape[0])
    for M in (A, B):
        tot = M.sum(axis=1)
        t = _xlogx(M).sum(axis=1)
        if guess_aware:
            mx = M.max(axis=1)
            rest = np.clip(tot - mx, 0.0, None)
            out += -(t - _xlogx(mx)) + _xlogx(rest)
        else:
            out += -t + _xlogx(tot)
    return out


def _threshold_entropy(ws: np.ndarray, eps: float, guess_aware: bool = True) -> np.ndarray:
    """Expected entropy of every alphabetical split of the sorted weights ``ws``.

    Entry i answers "yes" for the first i candidates (i = 1..n−1), computed with prefix sums in O(n).
    """
    n = len(ws)
    S = np.concatenate([[0.0], np.cumsum(ws)])[1:n]           # mass of the first i, i=1..n-1
    Lw = _xlogx(ws)
    L = np.concatenate([[0.0], np.cumsum(Lw)])[1:n]
    St, Lt = S[-1] + ws[-1] if n > 1 else ws.sum(), Lw.sum()
    c_in, c_out = 1.0 - eps, eps                               # p(yes) inside / outside the prefix
    out = np.zeros(max(n - 1, 0))
    pmax = np.maximum.accumulate(ws)[: n - 1]
    smax = np.maximum.accumulate(ws[::-1])[::-1][1:]
    for a, b in ((c_in, c_out), (c_out, c_in)):                # yes branch, no branch
        tot = a * S + b * (St - S)
        t = a * L + _xlogx(np.array(a)) * S + b * (Lt - L) + _xlogx(np.array(b)) * (St - S)
        if guess_aware:
            mx = np.maximum(a * pmax, b * smax)
            rest = np.clip(tot - mx, 0.0, None)
            out += -(t - _xlogx(mx)) + _xlogx(rest)
        else:
            out += -t + _xlogx(tot)
    return out


def _plural_variants(n: str) -> list[str]:
    """Normalised strings the environment treats as the same keyword as ``n`` (see rules.same_keyword)."""
    out = [n]
    if len(n) >= 3:
        out += [n + "s", n + "es"]
        if n.endswith("s") and len(n) - 1 >= 3:
            out.append(n[:-1])
        if n.endswith("es") and len(n) - 2 >= 3:
            out.append(n[:-2])
    return out


@dataclass
class Choice:
    question: str
    expected_entropy: float
    source: str  # "bank", "alphabetical", "alpha-bisection", "handshake", "fallback"


class Guesser:
    """Bayesian 20-questions guesser over a fixed candidate list.

    Parameters are stored as given; ``bank`` is a list of question texts and ``bank_p`` their
    p(yes | q, k) matrix (len(bank) × len(candidates)); rows of rule questions are ignored (NaN is
    fine): those are computed exactly from the keyword text.

    >>> g = Guesser(["apple", "banana", "cherry", "date"])
    >>> g.ask([], [], [])
    'Does the keyword (in lowercase) come before "cherry" in alphabetical order?'
    >>> g.guess(['Does the keyword (in lowercase) come before "cherry" in alphabetical order?'], ["no"], [])
    'cherry'
    """

    def __init__(self, candidates: list[str], prior=None, *, bank: list[str] | None = None, bank_p=None,
                 eps: float = 0.1, handshake: bool = False, guess_aware: bool = True,
                 alphabetical: bool = True, min_weight: float = 1e-12, groups=None) -> None:
        if not candidates:
            raise ValueError("candidates must not be empty")
        self.candidates = list(candidates)
        n = len(self.candidates)
        prior = np.full(n, 1.0 / n) if prior is None else np.asarray(prior, dtype=float)
        if prior.shape != (n,) or (prior < 0).any() or prior.sum() <= 0:
            raise ValueError("prior must be a non-negative vector with one entry per candidate")
        self.prior = prior / prior.sum()
        self.eps = float(eps)
        self.handshake = handshake
        self.guess_aware = guess_aware
        self.alphabetical = alphabetical
        self.min_weight = min_weight
        # groups: entry → group index, for surface forms of one keyword ("tool box", "toolbox", "tool boxes"):
        # each form is its own entry (alphabetical questions are answered on the keyword's own string),
        # the guess is the best entry of the group of highest posterior mass
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        if self.groups is not None and (self.groups.shape != (n,) or (self.groups < 0).any()):
            raise ValueError("groups must be a non-negative integer vector with one entry per candidate")
        self._lower = [c.lower().strip() for c in self.candidates]
        order = np.argsort(np.array(self._lower, dtype=object), kind="stable")
        self._order = order
        self._sorted_lower = [self._lower[i] for i in order]
        self.bank = list(bank or [])
        self._bank_index = {q: i for i, q in enumerate(self.bank)}
        self._bank_p = None if bank_p is None else np.asarray(bank_p, dtype=float)
        if self._bank_p is not None and self._bank_p.shape != (len(self.bank), n):
            raise ValueError(f"bank_p must have shape ({len(self.bank)}, {n}), got {self._bank_p.shape}")
        self._cache: dict[str, np.ndarray | None] = {}
        self._cache_max = int(min(4096, max(64, 2e8 // (8 * n))))  # ~200 MB of cached likelihood vectors
        self._by_norm: dict[str, list[int]] = {}
        for i, c in enumerate(self.candidates):
            self._by_norm.setdefault(normalize_guess(c), []).append(i)
        self._bank_matrix = None
        self._feat: dict | None = None
        self.semantic_after_refusal = 5  # handshake refused: this many rounds of semantic questions first

    # ------------------------------------------------------------------ likelihoods
    def likelihood(self, question: str) -> np.ndarray | None:
        """p(yes | question, k) for every candidate, or None when the question is unknown."""
        if question in self._cache:
            return self._cache[question]
        p = None
        parsed = parse_rule(question)
        if parsed is not None:
            kind, arg = parsed
            p = self._rule_vector(kind, arg)
        elif question in self._bank_index and self._bank_p is not None:
            p = self._bank_p[self._bank_index[question]]
        if len(self._cache) >= self._cache_max:  # generated alphabetical questions are new every game: bound memory
            self._cache.clear()
        self._cache[question] = p
        return p

    def _rule_vector(self, kind: str, arg: str) -> np.ndarray:
        """rule_truth over all candidates, vectorised (a 50k list answers 95 rule questions in well under a second)."""
        if self._feat is None and kind != "before":
            letters = ["".join(ch for ch in c if ch.isalpha()) for c in self._lower]
            self._feat = {
                "lower": np.array(self._lower, dtype=object),
                "first": np.array([s[:1] for s in letters]),
                "last": np.array([s[-1:] for s in letters]),
                "mask": np.array([sum(1 << (ord(ch) - 97) for ch in set(s) if "a" <= ch <= "z") for s in letters],
                                 dtype=np.int64),
                "n": np.array([len(s) for s in letters]),
                "words": np.array([len(c.split()) for c in self._lower]),
            }
        if kind == "before":  # the first k of the sorted list: a binary search, no string comparisons over all
            import bisect

            out = np.zeros(len(self.candidates))
            out[self._order[: bisect.bisect_left(self._sorted_lower, arg.lower())]] = 1.0
            return out
        f = self._feat
        if kind == "starts":
            return (f["first"] == arg).astype(float)
        if kind == "ends":
            return (f["last"] == arg).astype(float)
        if kind == "contains" and len(arg) == 1 and "a" <= arg <= "z":
            return ((f["mask"] >> (ord(arg) - 97)) & 1).astype(float)
        if kind == "longer":
            return (f["n"] > int(arg)).astype(float)
        if kind == "words":
            return (f["words"] > int(arg)).astype(float)
        return np.array([rule_truth(kind, arg, c) for c in self._lower], dtype=float)

    def _matrix(self) -> tuple[list[str], np.ndarray]:
        if self._bank_matrix is None:
            rows, texts = [], []
            for q in self.bank:
                p = self.likelihood(q)
                if p is not None and 0 < p.sum() < len(p):
                    rows.append(p)
                    texts.append(q)
            self._bank_matrix = (texts, np.array(rows) if rows else np.zeros((0, len(self.candidates))))
        return self._bank_matrix

    def _excluded(self, guesses: list[str]) -> np.ndarray:
        ex = np.zeros(len(self.candidates), dtype=bool)
        for g in guesses:
            if not isinstance(g, str) or not g:
                continue
            for key in _plural_variants(normalize_guess(g)):
                for i in self._by_norm.get(key, ()):
                    ex[i] = True
        return ex

    # ------------------------------------------------------------------ posterior
    def _alpha_mode(self, questions: list[str], answers: list[str]) -> bool:
        return bool(self.handshake and questions and answers and questions[0] == ALPHA_QUESTION
                    and str(answers[0]).lower() == "yes")

    def posterior(self, questions: list[str], answers: list[str], guesses: list[str]) -> tuple[np.ndarray, float]:
        """(posterior weights, ε used): hard (ε=0) in Agent-Alpha mode unless answers contradict."""
        qa = [(q, str(a).lower() == "yes") for q, a in zip(questions, answers)]
        liks, ans = [], []
        for q, yes in qa:
            p = self.likelihood(q)
            if p is not None:
                liks.append(p)
                ans.append(yes)
        excluded = self._excluded(guesses)
        if self._alpha_mode(questions, answers):
            w = posterior_weights(self.prior, liks, ans, 0.0, excluded)
            if w.sum() > 0:
                return w, 0.0
        eps = self.eps
        w = posterior_weights(self.prior, liks, ans, eps, excluded)
        if w.sum() == 0 and eps < _EPS_FLOOR:  # an "exact" answerer contradicted itself
            eps = _EPS_FLOOR
            w = posterior_weights(self.prior, liks, ans, eps, excluded)
        if w.sum() == 0:  # everything guessed: start over from the prior
            w = self.prior.copy()
        return w, eps

    # ------------------------------------------------------------------ actions
    def choose(self, questions: list[str], answers: list[str], guesses: list[str]) -> Choice:
        """The next question with its expected entropy and where it came from."""
        if self.handshake and not questions:
            return Choice(ALPHA_QUESTION, float("nan"), "handshake")
        w, eps = self.posterior(questions, answers, guesses)
        alpha = self._alpha_mode(questions, answers) and eps == 0.0
        if (self.handshake and questions and questions[0] == ALPHA_QUESTION and not alpha
                and len(questions) <= self.semantic_after_refusal):
            from .semantic import (
                semantic_choice,  # handshake refused: the partner is not us, ask semantic questions
            )

            got = semantic_choice(self, w, eps)
            if got is not None:
                return Choice(got[0], got[1], "semantic")
        best = Choice(_FALLBACK_QUESTION, float("inf"), "fallback")
        keep = w > self.min_weight * w.max()
        if self.alphabetical or alpha:
            ws = w[self._order]
            ks = keep[self._order]
            idx = np.flatnonzero(ks)
            if len(idx) >= 2:
                e = _threshold_entropy(ws[idx], eps, self.guess_aware)
                j = int(np.argmin(e))
                word = self._sorted_lower[self._order_pos(idx, j)]
                best = Choice(alpha_order_question(word), float(e[j]), "alpha-bisection" if alpha else "alphabetical")
        if not alpha:
            texts, M = self._matrix()
            if len(texts):
                e = expected_entropy(w[keep], M[:, keep], eps, self.guess_aware)
                j = int(np.argmin(e))
                if e[j] < best.expected_entropy - 1e-12:
                    best = Choice(texts[j], float(e[j]), "bank")
        return best

    def _order_pos(self, idx: np.ndarray, j: int) -> int:
        # split after the (j+1)-th kept candidate: threshold = the next kept candidate's string, so
        # "before <it>" is yes exactly for the first j+1 kept ones (and any dropped ones in between)
        return int(idx[j + 1])

    def ask(self, questions: list[str], answers: list[str], guesses: list[str]) -> str:
        return self.choose(questions, answers, guesses).question[:750]

    def guess(self, questions: list[str], answers: list[str], guesses: list[str]) -> str:
        w, _ = self.posterior(questions, answers, guesses)
        if self.groups is not None:
            g = int(np.argmax(np.bincount(self.groups, weights=w)))
            members = np.flatnonzero(self.groups == g)
            return self.candidates[int(members[np.argmax(w[members])])][:100]
        return self.candidates[int(np.argmax(w))][:100]
