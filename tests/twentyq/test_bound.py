"""The LP bound on any guesser's solve rate against a flip-noise answerer (medalist.twentyq.bound)."""

from __future__ import annotations

import functools
import itertools

import pytest

from medalist.twentyq.bound import solve_rate_bound


def exhaustive_optimum(eps: float, n: int, rounds: int) -> float:
    """Best solve rate over every strategy: any subset of candidates as the question, any guess."""
    questions = [s for s in itertools.product((0, 1), repeat=n) if s[0] == 1]  # a set and its complement ask the same

    @functools.lru_cache(maxsize=None)
    def value(w: tuple[float, ...], left: int) -> float:  # w: P(keyword = k and the history so far)
        if left == 0 or max(w) == 0:
            return 0.0
        best = 0.0
        for s in questions:
            total = 0.0
            for yes in (1, 0):
                m = tuple(wk * ((1 - eps) if s[k] == yes else eps) for k, wk in enumerate(w))
                total += max(m[g] + value(tuple(0.0 if k == g else round(x, 14) for k, x in enumerate(m)), left - 1)
                             for g in range(n))
            best = max(best, total)
        return best

    return value(tuple([1.0 / n] * n), rounds)


@pytest.mark.parametrize("eps,n,rounds", [(0.2, 2, 1), (0.2, 3, 2), (0.3, 4, 3), (0.1, 5, 2), (0.2, 3, 4),
                                          (0.2, 5, 3), (0.25, 4, 2)])
def test_bound_equals_the_exhaustive_optimum_on_tiny_games(eps, n, rounds):
    assert solve_rate_bound(n, eps, rounds=rounds) == pytest.approx(exhaustive_optimum(eps, n, rounds), abs=1e-9)


def test_bound_without_noise_counts_guesses():
    # exact answers: after r answers 2^r histories, one guess each -> 2+4+...+256 = 510 keywords in 8 rounds
    assert solve_rate_bound(578, 0.0, rounds=8) == pytest.approx(510 / 578)
    assert solve_rate_bound(578, 0.0, rounds=9) == 1.0


def test_bound_on_the_578_things():
    b = {e: solve_rate_bound(578, e) for e in (0.05, 0.1, 0.15, 0.2, 0.25)}
    assert list(b.values()) == sorted(b.values(), reverse=True)          # more noise, lower ceiling
    assert b[0.1] == pytest.approx(0.978, abs=5e-4)                       # the guesser's 97.7% sits just under it
    assert b[0.2] == pytest.approx(0.759, abs=5e-4)                       # so no guesser reaches 78% at ε = 0.2
    assert solve_rate_bound(578, 0.2, rounds=21) > b[0.2]                 # an extra round helps


@pytest.mark.parametrize("kw,msg", [({"n": 0, "eps": 0.1}, "n must be"), ({"n": 5, "eps": 0.7}, "eps must be"),
                                    ({"n": 5, "eps": 0.1, "rounds": 0}, "rounds must be")])
def test_bound_rejects_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        solve_rate_bound(**kw)
