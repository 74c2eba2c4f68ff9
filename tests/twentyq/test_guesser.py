"""Posterior math on a hand-computed case, the entropy choice, the Agent-Alpha protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medalist.twentyq.guesser import (
    Guesser,
    _threshold_entropy,
    expected_entropy,
    posterior_weights,
)
from medalist.twentyq.rules import (
    ALPHA_QUESTION,
    alpha_order_question,
    rule_answer,
    same_keyword,
)


def test_posterior_hand_computed():
    # prior (0.5, 0.3, 0.2); q1 p(yes) = (1, 0, 1) answered yes; q2 p(yes) = (0.8, 0.5, 0.2) answered no; eps 0.1
    prior = np.array([0.5, 0.3, 0.2])
    liks = [np.array([1.0, 0.0, 1.0]), np.array([0.8, 0.5, 0.2])]
    w = posterior_weights(prior, liks, [True, False], eps=0.1)
    # p~ = eps + (1-2eps) p: q1 yes → (0.9, 0.1, 0.9); q2: p~ = (0.74, 0.5, 0.26), "no" → (0.26, 0.5, 0.74)
    un = np.array([0.5 * 0.9 * 0.26, 0.3 * 0.1 * 0.5, 0.2 * 0.9 * 0.74])   # 0.117, 0.015, 0.1332
    assert w == pytest.approx(un / un.sum())
    assert w.sum() == pytest.approx(1.0)


def test_excluded_candidates_get_zero_mass():
    w = posterior_weights(np.array([0.6, 0.4]), [], [], 0.1, excluded=np.array([True, False]))
    assert w.tolist() == [0.0, 1.0]


def test_expected_entropy_hand_computed_and_choice():
    w = np.array([0.4, 0.3, 0.2, 0.1])
    P = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=float)
    e = expected_entropy(w, P, 0.0, guess_aware=False)
    h = lambda p: -sum(x * math.log(x) for x in p if x > 0)      # noqa: E731
    # q0: yes {a} (0.4) → 0; no {b,c,d} (0.6) → H(.5,.333,.167)
    assert e[0] == pytest.approx(0.6 * h([0.5, 1 / 3, 1 / 6]))
    assert e[1] == pytest.approx(0.7 * h([4 / 7, 3 / 7]) + 0.3 * h([2 / 3, 1 / 3]))
    assert e[2] == pytest.approx(0.9 * h([4 / 9, 3 / 9, 2 / 9]))
    assert e.round(3).tolist() == [0.607, 0.669, 0.955]
    assert int(np.argmin(e)) == 0                      # isolating the 0.4 candidate wins
    # guess-aware: the MAP of each branch is removed (right guess ends the game)
    g = expected_entropy(w, P, 0.0, guess_aware=True)
    assert g[1] == pytest.approx(0.0)          # yes → {a,b}: guess a, else b is certain; no → {c,d}: same
    assert g[0] == pytest.approx(0.3 * h([2 / 3, 1 / 3]))   # no → {b,c,d}: b guessed, {c,d} remain
    assert int(np.argmin(g)) == 1


def test_threshold_entropy_equals_explicit_prefix_matrix():
    rng = np.random.default_rng(0)
    ws = rng.dirichlet(np.ones(9))
    P = (np.arange(9)[None, :] < np.arange(1, 9)[:, None]).astype(float)
    for eps in (0.0, 0.1, 0.3):
        for ga in (False, True):
            assert _threshold_entropy(ws, eps, ga) == pytest.approx(expected_entropy(ws, P, eps, ga))


def test_guesser_prefers_the_balanced_bank_question():
    cands = ["ant", "bee", "cat", "dog"]
    g = Guesser(cands, bank=["Q-half", "Q-one"], bank_p=np.array([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=float),
                eps=0.0, alphabetical=False, guess_aware=False)
    assert g.ask([], [], []) == "Q-half"
    assert g.guess(["Q-half"], ["no"], []) == "cat"
    assert g.guess(["Q-half"], ["no"], ["cat"]) == "dog"   # the wrong guess is a free test


def _play(g: Guesser, keyword: str, max_rounds: int = 20) -> int | None:
    qs, ans, gs = [], [], []
    for r in range(1, max_rounds + 1):
        q = g.ask(qs, ans, gs)
        a = rule_answer(q, keyword)
        qs.append(q)
        ans.append("yes" if a is None or a else "no")
        gs.append(g.guess(qs, ans, gs))
        if same_keyword(gs[-1], keyword):
            return r
    return None


@pytest.mark.parametrize("handshake,bound", [(False, (2 * 1 + 4 * 2 + 8 * 3 + 16 * 4 + 10 * 5) / 40),
                                             (True, (1 + 2 * 2 + 4 * 3 + 8 * 4 + 16 * 5 + 9 * 6) / 40)])
def test_exact_answers_reach_the_information_bound(handshake, bound):
    words = [f"{a}{b}" for a in "abcdefgh" for b in "vwxyz"]            # 40 keywords
    g = Guesser(words, eps=0.0, handshake=handshake)
    rounds = [_play(g, w) for w in words]
    assert None not in rounds
    assert np.mean(rounds) == pytest.approx(bound)
    assert max(rounds) == (6 if handshake else 5)


def test_alpha_handshake_then_fallback_on_contradiction():
    words = ["apple", "banana", "cherry", "date", "elder", "fig"]
    g = Guesser(words, eps=0.1, handshake=True)
    assert g.ask([], [], []) == ALPHA_QUESTION
    c = g.choose([ALPHA_QUESTION], ["yes"], ["apple"])
    assert c.source == "alpha-bisection"
    q_before_c = alpha_order_question("cherry")
    q_before_b = alpha_order_question("banana")
    # contradicting answers: before "banana" = no, before "cherry"... and before "banana" = yes
    hist_q = [ALPHA_QUESTION, q_before_c, q_before_b, q_before_b]
    hist_a = ["yes", "yes", "no", "yes"]
    w, eps = g.posterior(hist_q, hist_a, ["apple"])
    assert eps == 0.1 and w.sum() == pytest.approx(1.0)          # fell back to the noisy mode
    assert g.choose(hist_q, hist_a, ["apple"]).source != "alpha-bisection"
    # an answerer that is not Alpha-capable says no: entropy mode from round 2
    assert g.choose([ALPHA_QUESTION], ["no"], ["apple"]).source in ("alphabetical", "bank")


def test_noisy_answers_still_find_the_keyword():
    words = [f"{a}{b}" for a in "abcdefgh" for b in "vwxyz"]
    g = Guesser(words, eps=0.1)
    qs, ans, gs = [], [], []
    rng = np.random.default_rng(3)
    solved = 0
    for w in words[:10]:
        qs, ans, gs = [], [], []
        for _ in range(20):
            q = g.ask(qs, ans, gs)
            a = bool(rule_answer(q, w)) ^ (rng.random() < 0.1)
            qs.append(q), ans.append("yes" if a else "no"), gs.append(g.guess(qs, ans, gs))
            if gs[-1] == w:
                solved += 1
                break
    assert solved >= 9


def test_bad_construction_is_rejected():
    with pytest.raises(ValueError):
        Guesser([])
    with pytest.raises(ValueError):
        Guesser(["a", "b"], prior=[1.0])
    with pytest.raises(ValueError):
        Guesser(["a", "b"], bank=["q"], bank_p=np.zeros((2, 2)))


def test_exact_mode_survives_a_contradicting_answerer():
    g = Guesser(["apple", "banana", "cherry"], eps=0.0)
    q = alpha_order_question("banana")
    w, eps = g.posterior([q, q], ["yes", "no"], [])
    assert eps > 0 and w.sum() == pytest.approx(1.0)
    assert g.guess([q, q], ["yes", "no"], []) in ("apple", "banana", "cherry")


def test_vectorised_rule_likelihoods_match_the_answerer():
    from medalist.twentyq.bank import rule_questions

    words = ["Air Conditioner", "zinc", "IV", "Coffee Makers", "é-reader", "Yoga mat", "x"]
    g = Guesser(words)
    for q in rule_questions() + [alpha_order_question("coffee"), ALPHA_QUESTION]:
        assert g.likelihood(q).tolist() == [float(rule_answer(q, w)) for w in words], q
