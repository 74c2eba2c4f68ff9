"""The highest solve rate ANY guesser can reach against a flip-noise answerer: a linear-programming bound.

Setting (``medalist twentyq bench --answerer flip``): the keyword is one of ``n`` candidates, each
equally likely (the bench plays every keyword once); each round the guesser asks any yes/no question,
the answer is the true one flipped with probability ε independently per round, then the guesser names
one keyword and wins if it is the keyword; ``rounds`` rounds at most.

Why the LP bounds every strategy (deterministic ones suffice: a randomised strategy is a mixture):

* Fix the keyword k. Its flip pattern f ∈ {0,1}^rounds decides the game: the answers y₁..y_r follow from
  f₁..f_r one-to-one (y_r = truth of question r about k, XOR f_r, and question r is a function of
  y₁..y_{r−1}). Let W_k be the flip prefixes (f₁..f_r) after which k is guessed *for the first time*.
  P(win | k) = Σ_{f ∈ W_k} ε^{|f|}(1−ε)^{r−|f|}, with |f| the number of flips in the prefix.
* W_k is prefix-free, so every full pattern F extends at most one member of W_k. Counting the full
  patterns with D flips: Σ_{(r,d)} x_{k,r,d}·C(rounds−r, D−d) ≤ C(rounds, D) for every D, where
  x_{k,r,d} = #members of W_k of length r with d flips (≤ C(r, d)).
* After r answers there are 2^r answer histories, each with one guess naming one keyword (on the 578
  "things" no guess can match two keywords: names, alternatives and plural forms are disjoint), so
  Σ_k Σ_d x_{k,r,d} ≤ 2^r.
* The solve rate is (1/n)·Σ_k P(win | k). The average x̄ = (1/n)·Σ_k x_k satisfies every per-keyword
  constraint (they are linear) and Σ_d x̄_{r,d} ≤ 2^r / n; so the solve rate is at most the LP below.

On tiny games the bound equals the exact optimum found by exhaustive search over every question
(any subset of candidates) and every guess (``tests/twentyq/test_bound.py``). For the 578 things
and 20 rounds it is 0.978 at ε = 0.1 and 0.759 at ε = 0.2.
"""

from __future__ import annotations

from math import comb

import numpy as np

from medalist.core.errors import MedalistError

from .errors import TwentyQArgumentError

__all__ = ["solve_rate_bound"]


def solve_rate_bound(n: int, eps: float, rounds: int = 20) -> float:
    """Upper bound on the expected solve rate of any guesser (see the module docstring).

    >>> round(solve_rate_bound(2, 0.2, rounds=1), 6)   # ask "is it the first?", guess the MAP
    0.8
    >>> solve_rate_bound(578, 0.0)                      # exact answers: 10 questions suffice
    1.0
    """
    from scipy.optimize import linprog

    where = "solve_rate_bound"
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise TwentyQArgumentError(where, detail="n must be a positive number of candidates", found=repr(n))
    if not 0.0 <= eps <= 0.5:
        raise TwentyQArgumentError(where, detail="eps must be a flip probability in [0, 0.5]", found=repr(eps))
    if not isinstance(rounds, (int, np.integer)) or not 1 <= rounds <= 60:
        raise TwentyQArgumentError(where, detail="rounds must be an integer in [1, 60]", found=repr(rounds))
    T = int(rounds)
    cells = [(r, d) for r in range(1, T + 1) for d in range(r + 1)]   # first guessed after r answers, d flips
    value = np.array([eps ** d * (1.0 - eps) ** (r - d) for r, d in cells])
    A, b = [], []
    for D in range(T + 1):          # prefix-free: each full pattern with D flips is covered at most once
        A.append([comb(T - r, D - d) if 0 <= D - d <= T - r else 0 for r, d in cells])
        b.append(comb(T, D))
    for R in range(1, T + 1):       # one guess per answer history of length R, shared by the n keywords
        A.append([1.0 if r == R else 0.0 for r, _ in cells])
        b.append(2.0 ** R / n)
    res = linprog(-value, A_ub=np.array(A, dtype=float), b_ub=np.array(b, dtype=float),
                  bounds=[(0, comb(r, d)) for r, d in cells], method="highs")
    if res.status != 0:  # pragma: no cover - the LP is always feasible (x = 0) and bounded
        raise MedalistError("solve_rate_bound", expected="a solved linear program", found=f"HiGHS: {res.message}",
                            fix="report this as a bug; the LP is always feasible (x = 0) and bounded")
    return float(min(1.0, -res.fun))
