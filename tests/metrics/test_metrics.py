"""Tests for medalist.metrics.registry: every metric against sklearn/scipy or hand values, and spec resolution."""

from __future__ import annotations

import math
import pickle
import textwrap
import warnings

import numpy as np
import pytest
from scipy.special import kl_div
from sklearn import metrics as skm

from medalist.core.errors import ConfigError
from medalist.core.safety import trusted
from medalist.metrics.registry import (
    METRICS,
    Metric,
    get_metric,
    list_metrics,
    register_metric,
)
from medalist.metrics.scores import map_at_k

BUILTINS = ["auc", "pauc", "logloss", "mlogloss", "accuracy", "f1", "f1_micro", "rmse", "rmsle",
            "mae", "r2", "qwk", "map@k", "kl"]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def scratch_registry(monkeypatch):
    # Registrations made in a test vanish afterwards.
    monkeypatch.setattr(METRICS, "_entries", dict(METRICS._entries))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _inputs(name: str, rng):
    """Realistic (y_true, y_pred) for a metric, as a model in medalist would produce them."""
    n = 200
    if name in ("mlogloss", "kl"):
        y_pred = _softmax(rng.normal(size=(n, 4)))
        y_true = _softmax(rng.normal(size=(n, 4)) * 2) if name == "kl" else rng.integers(0, 4, n)
        return y_true, y_pred
    if name == "qwk":
        return rng.integers(0, 5, n), rng.uniform(-0.5, 4.5, n)
    if name.startswith("map@"):
        return [rng.choice(20, 2, replace=False) for _ in range(n)], [rng.permutation(20)[:12] for _ in range(n)]
    needs = METRICS.get(name)().needs
    if needs == "value":
        y_true = rng.uniform(0, 10, n)
        return y_true, np.clip(y_true + rng.normal(size=n), 0, None)
    y_true = rng.integers(0, 2, n)
    return y_true, np.clip(0.3 * y_true + rng.uniform(0, 0.7, n), 0, 1)


def test_builtins_are_registered():
    assert set(BUILTINS) <= set(list_metrics())


@pytest.mark.parametrize("name", list_metrics())
def test_every_metric_returns_finite_float_and_is_consistent(name, rng):
    metric = get_metric(name)
    y_true, y_pred = _inputs(name, rng)
    score = metric(y_true, y_pred)
    assert isinstance(score, float) and math.isfinite(score)
    assert metric.direction in ("maximize", "minimize")
    assert metric.needs in ("proba", "label", "value")
    assert metric.greater_is_better == (metric.direction == "maximize")
    hi, lo = score + 1.0, score - 1.0
    assert metric.better(hi, lo) == metric.greater_is_better
    assert metric.better(lo, hi) != metric.greater_is_better
    assert not metric.better(score, score)
    # weights pass through: uniform weights change nothing
    assert metric(y_true, y_pred, np.full(len(y_true), 2.0)) == pytest.approx(score)


def test_better_treats_nan_as_worst():
    m = get_metric("rmse")
    assert m.better(1.0, float("nan")) and not m.better(float("nan"), 1.0)


def test_metric_pickles():
    m = get_metric({"name": "pauc", "min_tpr": 0.9})
    m2 = pickle.loads(pickle.dumps(m))
    y, p = np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.6, 0.4])
    assert m2(y, p) == m(y, p) and m2.name == "pauc(min_tpr=0.9)"


# ---------------------------------------------------------------- against sklearn


def test_auc_on_real_data():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, stratify=y)
    proba = make_pipeline(StandardScaler(), LogisticRegression()).fit(Xtr, ytr).predict_proba(Xte)
    score = get_metric("auc")(yte, proba[:, 1])
    assert score == pytest.approx(skm.roc_auc_score(yte, proba[:, 1])) and score > 0.95
    assert get_metric("auc")(yte, proba) == pytest.approx(score)  # (n, 2) accepted too


def test_auc_multiclass_and_multilabel(rng):
    y = rng.integers(0, 3, 300)
    p = _softmax(rng.normal(size=(300, 3)) + np.eye(3)[y])
    assert get_metric("auc")(y, p) == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    Y = rng.integers(0, 2, (300, 4))
    P = np.clip(0.4 * Y + rng.uniform(0, 0.6, (300, 4)), 0, 1)
    assert get_metric("auc")(Y, P) == pytest.approx(np.mean([skm.roc_auc_score(Y[:, j], P[:, j]) for j in range(4)]))


def test_logloss_clips_and_matches_sklearn(rng):
    y, p = rng.integers(0, 2, 100), rng.uniform(0.01, 0.99, 100)
    w = rng.uniform(0.5, 2, 100)
    assert get_metric("logloss")(y, p, w) == pytest.approx(skm.log_loss(y, p, sample_weight=w))
    assert math.isfinite(get_metric("logloss")([1, 0], [0.0, 1.0]))


def test_mlogloss_with_absent_class(rng):
    p = _softmax(rng.normal(size=(50, 4)))
    y = rng.integers(0, 3, 50)  # class 3 never appears
    assert get_metric("mlogloss")(y, p) == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2, 3]))


def test_label_metrics_convert_probabilities(rng):
    y, p = rng.integers(0, 2, 100), rng.uniform(0, 1, 100)
    labels = (p >= 0.5).astype(int)
    assert get_metric("accuracy")(y, p) == pytest.approx(skm.accuracy_score(y, labels))
    assert get_metric("f1")(y, p) == pytest.approx(skm.f1_score(y, labels))
    ym, pm = rng.integers(0, 3, 100), _softmax(rng.normal(size=(100, 3)))
    am = pm.argmax(axis=1)
    assert get_metric("accuracy")(ym, pm) == pytest.approx(skm.accuracy_score(ym, am))
    assert get_metric("f1")(ym, pm) == pytest.approx(skm.f1_score(ym, am, average="macro"))
    assert get_metric("f1_micro")(ym, pm) == pytest.approx(skm.f1_score(ym, am, average="micro"))
    assert get_metric("f1")(ym, am) == pytest.approx(skm.f1_score(ym, am, average="macro"))  # hard labels as-is


def test_regression_metrics_match_sklearn(rng):
    y, p, w = rng.uniform(0, 5, 80), rng.uniform(0, 5, 80), rng.uniform(0.1, 1, 80)
    assert get_metric("rmse")(y, p, w) == pytest.approx(math.sqrt(skm.mean_squared_error(y, p, sample_weight=w)))
    assert get_metric("rmsle")(y, p) == pytest.approx(math.sqrt(skm.mean_squared_log_error(y, p)))
    assert get_metric("mae")(y, p, w) == pytest.approx(skm.mean_absolute_error(y, p, sample_weight=w))
    assert get_metric("r2")(y, p) == pytest.approx(skm.r2_score(y, p))
    assert get_metric("r2").direction == "maximize" and get_metric("rmse").direction == "minimize"


def test_qwk_from_probas_and_regression():
    y = np.array([0, 1, 2, 3, 3, 2])
    reg = np.array([-0.7, 1.2, 2.6, 5.0, 2.9, 1.4])  # round, then clip into [0, 3]
    expected = skm.cohen_kappa_score(y, [0, 1, 3, 3, 3, 1], weights="quadratic")
    assert get_metric("qwk")(y, reg) == pytest.approx(expected)
    proba = np.eye(4)[[0, 1, 3, 3, 3, 1]] * 0.7 + 0.075
    assert get_metric("qwk")(y, proba) == pytest.approx(expected)
    assert get_metric("qwk")(y, y) == pytest.approx(1.0)


# ---------------------------------------------------------------- pauc


def _pauc_by_integration(y, p, min_tpr):
    """Area under the (linearly interpolated) ROC curve and above TPR = min_tpr."""
    fpr, tpr = skm.roc_curve(y, p, drop_intermediate=False)[:2]
    i = int(np.argmax(tpr >= min_tpr))
    f0 = np.interp(min_tpr, [tpr[i - 1], tpr[i]], [fpr[i - 1], fpr[i]]) if tpr[i] > min_tpr else fpr[i]
    xs = np.r_[f0, fpr[i:]]
    ys = np.r_[0.0, tpr[i:] - min_tpr]
    return np.trapezoid(ys, xs)


def test_pauc_perfect_and_random(rng):
    y = rng.integers(0, 2, 20000)
    assert get_metric("pauc")(y, y * 0.8 + 0.1) == pytest.approx(0.2)
    assert get_metric({"name": "pauc", "min_tpr": 0.9})(y, y.astype(float)) == pytest.approx(0.1)
    assert get_metric("pauc")(y, rng.uniform(size=y.size)) == pytest.approx(0.02, abs=0.004)
    assert get_metric("pauc").name == "pauc(min_tpr=0.8)"


@pytest.mark.parametrize("min_tpr", [0.8, 0.5, 0.93])
def test_pauc_matches_numeric_integration(rng, min_tpr):
    y = rng.integers(0, 2, 500)
    p = np.round(0.35 * y + rng.uniform(size=500), 2)  # rounding creates ties
    got = get_metric({"name": "pauc", "min_tpr": min_tpr})(y, p)
    assert got == pytest.approx(_pauc_by_integration(y, p, min_tpr), abs=1e-6)


def test_pauc_rejects_bad_min_tpr():
    with pytest.raises(ConfigError, match="min_tpr"):
        get_metric({"name": "pauc", "min_tpr": 1.5})([0, 1], [0.2, 0.8])


# ---------------------------------------------------------------- map@k and kl


def test_map_at_k_hand_values():
    # row 1: hits at ranks 1 and 3 -> (1/1 + 2/3) / 2; row 2: hit at rank 2 -> (1/2) / 1
    assert map_at_k([[1, 2], [3]], [[1, 9, 2], [9, 3]], k=3) == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 2)
    assert map_at_k([[1, 2]], [[9, 1, 2]], k=2) == pytest.approx(0.5 / 2)  # 2 falls outside k
    assert map_at_k([[1]], [[1, 1, 1]], k=3) == pytest.approx(1.0)  # duplicates don't earn credit twice
    assert map_at_k([[], [5]], [[1], [5]], k=3) == pytest.approx(0.5)  # empty truth scores 0
    assert map_at_k([7, 8], [[7, 1], [1, 8]], k=2) == pytest.approx((1 + 0.5) / 2)  # scalar truth
    assert map_at_k(["a b", "c"], ["b x a", "c"], k=12) == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)  # strings
    assert map_at_k([[1], [2]], [[1], [9]], [3.0, 1.0], k=1) == pytest.approx(0.75)  # weighted rows


def test_map_at_k_name_parsing():
    m = get_metric("map@12")
    assert m.name == "map@12" and m.direction == "maximize"
    truth, preds = [[0]], [list(range(1, 12)) + [0]]  # relevant item at rank 12
    assert m(truth, preds) == pytest.approx(1 / 12)
    assert get_metric("map@k")(truth, preds) == 0.0  # default k=10
    assert get_metric({"name": "map@k", "k": 12}).name == "map@12"
    with pytest.raises(ConfigError, match="k"):
        get_metric("map@0")([[0]], [[0]])


def test_kl_matches_scipy(rng):
    t = _softmax(rng.normal(size=(64, 6)) * 3)
    t[0] = [1, 0, 0, 0, 0, 0]  # zeros in the target contribute nothing
    p = _softmax(rng.normal(size=(64, 6)))
    assert get_metric("kl")(t, p) == pytest.approx(kl_div(t, p).sum() / len(t))
    p[1] = [0, 0, 0.5, 0.5, 0, 0]  # zeros in the prediction get clipped, not infinite
    assert math.isfinite(get_metric("kl")(t, p))
    assert get_metric("kl")(np.array([2, 0]), np.eye(6)[[2, 0]]) == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------- resolving specs


def test_get_metric_accepts_metric_and_dict():
    m = get_metric("auc")
    assert get_metric(m) is m
    assert get_metric({"name": "auc"}).name == "auc"


def test_unknown_name_suggests():
    with pytest.raises(ConfigError, match="did you mean 'auc'") as e:
        get_metric("acu")
    assert "pauc" in str(e.value)  # lists valid choices


def test_bad_param_names_the_key():
    with pytest.raises(ConfigError, match="min_tpr'") as e:
        get_metric({"name": "pauc", "min_trp": 0.9})
    assert "did you mean 'min_tpr'" in str(e.value) and "min_trp" in str(e.value)
    with pytest.raises(ConfigError, match="no parameters"):
        get_metric({"name": "auc", "k": 3})
    with pytest.raises(ConfigError, match="name"):
        get_metric({"min_tpr": 0.8})


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_comp_metrics.py").write_text(textwrap.dedent("""
        import numpy as np

        def neg_err(y_true, y_pred, sample_weight=None, scale=1.0):
            return -scale * float(np.average(np.abs(np.asarray(y_true) - y_pred), weights=sample_weight))

        def hits(y_true, y_pred):
            return float(np.sum(np.asarray(y_true) == np.asarray(y_pred)))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with trusted(["my_comp_metrics"]):  # what `trust: [my_comp_metrics]` in medalist.yaml does
        yield "my_comp_metrics"


def test_dotted_path_user_function(user_module):
    m = get_metric({"name": f"{user_module}.neg_err", "direction": "maximize"})
    assert m.direction == "maximize" and m.needs == "proba"
    assert m([1, 2], [1, 4]) == pytest.approx(-1.0)
    m = get_metric({"name": f"{user_module}:neg_err", "scale": 2.0, "direction": "minimize", "needs": "value"})
    assert (m.direction, m.needs) == ("minimize", "value")
    assert m([1, 2], [1, 4], [1.0, 3.0]) == pytest.approx(-3.0)
    assert get_metric({"name": f"{user_module}:hits", "direction": "maximize"})([1, 2], [1, 3]) == 1.0  # no sample_weight argument needed


def test_dotted_path_needs_a_direction(user_module):
    with pytest.raises(ConfigError, match="expected a direction.*found none given.*direction: minimize"):
        get_metric(f"{user_module}.neg_err")
    import my_comp_metrics

    my_comp_metrics.neg_err.greater_is_better = True  # a function may declare its own direction
    try:
        assert get_metric(f"{user_module}.neg_err").direction == "maximize"
    finally:
        del my_comp_metrics.neg_err.greater_is_better


def test_dotted_path_errors(user_module):
    with pytest.raises(ConfigError, match="no_such_pkg_xyz"):
        get_metric("no_such_pkg_xyz.mod.fn")
    with pytest.raises(ConfigError, match="'neg_er'.*did you mean 'neg_err'"):
        get_metric(f"{user_module}:neg_er")
    with pytest.raises(ConfigError, match="direction"):
        get_metric({"name": f"{user_module}.neg_err", "direction": "up"})


def test_register_metric(scratch_registry):
    @register_metric("thresh_acc", direction="maximize", needs="proba")
    def thresh_acc(y_true, y_pred, sample_weight=None, threshold=0.5):
        return skm.accuracy_score(y_true, np.asarray(y_pred) > threshold, sample_weight=sample_weight)

    assert "thresh_acc" in list_metrics()
    m = get_metric({"name": "thresh_acc", "threshold": 0.7})
    assert isinstance(m, Metric) and m.name == "thresh_acc(threshold=0.7)"
    assert m([1, 1], [0.6, 0.8]) == pytest.approx(0.5)
    with pytest.warns(UserWarning, match="already registered"):
        register_metric("thresh_acc", direction="maximize")(lambda y_true, y_pred, sample_weight=None: 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_metric("thresh_acc", direction="maximize", overwrite=True)(thresh_acc)
    with pytest.raises(ConfigError, match="direction"):
        register_metric("bad", direction="max")


# ---------------------------------------------------------------- directions
# Written from the metrics' definitions, not read from the registry.
KNOWN_DIRECTIONS = {
    "auc": "maximize", "pauc": "maximize", "accuracy": "maximize", "f1": "maximize", "f1_micro": "maximize",
    "r2": "maximize", "qwk": "maximize", "map@k": "maximize", "ndcg@k": "maximize", "recall@k": "maximize",
    "logloss": "minimize", "mlogloss": "minimize", "rmse": "minimize", "rmsle": "minimize", "mae": "minimize",
    "kl": "minimize",
}


def _perfect(name: str, y_true):
    """The prediction that cannot be improved on, in the form the metric takes."""
    if name == "mlogloss":
        return np.eye(4)[np.asarray(y_true)]
    if name.endswith("@k"):
        return [list(t) for t in y_true]
    return np.asarray(y_true, dtype=float)


def direction_problems(names, rng) -> list[str]:
    """Metrics whose registered direction disagrees with KNOWN_DIRECTIONS or with behaviour
    (a perfect prediction must be ``better`` than a noisy one)."""
    problems = []
    for name in names:
        metric = get_metric(name)
        known = KNOWN_DIRECTIONS.get(name)
        if known is not None and metric.direction != known:
            problems.append(f"{name}: registered {metric.direction}, known {known}")
        y_true, noisy = _inputs("map@k" if name.endswith("@k") else name, rng)
        perfect = _perfect(name, y_true)
        good, bad = metric(y_true, perfect), metric(y_true, noisy)
        if not metric.better(good, bad):
            problems.append(f"{name}: perfect {good:.4f} not better than noisy {bad:.4f} under {metric.direction}")
    return problems


def test_every_metric_direction_is_known_and_behaves(rng):
    unknown = sorted(set(list_metrics()) - set(KNOWN_DIRECTIONS))
    assert not unknown, f"add the direction of {unknown} to KNOWN_DIRECTIONS"
    assert direction_problems(list_metrics(), rng) == []


def test_direction_check_catches_a_maximized_error(scratch_registry, rng):
    def rmse_fn(y_true, y_pred, sample_weight=None):
        return float(np.sqrt(np.average((np.asarray(y_true) - np.asarray(y_pred)) ** 2, weights=sample_weight)))

    register_metric("rmse", direction="maximize", needs="value", overwrite=True)(rmse_fn)
    register_metric("my_rmse", direction="maximize", needs="value")(rmse_fn)  # unknown to the table: behaviour catches it
    problems = direction_problems(["rmse", "my_rmse", "mae"], rng)
    assert problems[0] == "rmse: registered maximize, known minimize"
    assert problems[1].startswith("rmse: perfect 0.0000 not better than noisy")
    assert problems[2].startswith("my_rmse: perfect 0.0000 not better than noisy")
    assert len(problems) == 3  # mae is fine


@pytest.mark.parametrize("direction", [None, "", "higher"])
def test_metric_without_a_direction_is_a_config_error(scratch_registry, direction):
    with pytest.raises(ConfigError, match="direction") as e:
        register_metric("nodir", direction=direction, needs="value")
    assert "maximize or minimize" in str(e.value)
    assert "nodir" not in list_metrics()
