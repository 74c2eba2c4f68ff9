"""The signal model on the HMS-shaped PLAID ``task: distribution`` workspace: the vote columns are the targets."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

VOTES = [f"vote_{c}" for c in range(11)]

CONFIG = """\
model:
  name: signal
  params:
    signals: {columns: [current]}
    sample_rate: 30000
    length: 256
    pad: wrap
    epochs: 4
    batch_size: 32
    lr: 0.01
    branches:
      - {name: wave, input: raw, hidden: 16, layers: 3}
columns: {keep: [current]}
threads: 1
seeds: [0]
"""


@pytest.fixture(scope="module")
def plaid_dist(tmp_path_factory):
    for p in ("torch", "lightning"):
        if importlib.util.find_spec(p) is None:
            pytest.skip(f"{p} not installed: pip install 'medalist[signal]'")
    from medalist.datasets.plaid import make_plaid_workspace, plaid_dir

    if plaid_dir() is None:
        pytest.skip("PLAID missing: pip install sktime")
    import torch

    from medalist.cv.runner import train

    root = tmp_path_factory.mktemp("hmsd") / "plaid"
    ws = make_plaid_workspace(root, k=3, n_test=20, task="distribution")
    (root / "configs" / "signal.yaml").write_text(CONFIG)
    cwd, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(root)
    torch.set_num_threads(1)
    try:
        run = train(ws, root / "configs" / "signal.yaml", tracking=False)
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    return ws, run


def test_the_workspace_is_hms_shaped(plaid_dist):
    ws, _ = plaid_dist
    comp = ws.competition
    assert comp.task == "distribution" and comp.metric == "kl" and comp.targets == VOTES
    import polars as pl

    assert pl.read_csv(ws.sample_submission_path).columns == ["id", *VOTES]
    answers = pl.read_parquet(ws.answers_path)
    assert answers.columns == ["id", *VOTES, "usage"] and answers.height == 20


def test_signal_cv_is_kl_of_the_oof_against_the_vote_fractions(plaid_dist):
    ws, run = plaid_dist
    from medalist.core.config import ColumnsConfig
    from medalist.metrics.registry import get_metric
    from medalist.workspace.data import load_competition_data

    data = load_competition_data(ws, ColumnsConfig(keep=["current"]))
    oof = run.oof().sort("id")
    y = data.y(data.train.sort(ws.competition.id))
    p = oof.select([f"pred_{c}" for c in VOTES]).to_numpy()
    assert p.shape == (1054, 11)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-4)
    assert run.record.task == "distribution" and run.record.classes == VOTES
    assert run.record.cv == pytest.approx(get_metric("kl")(y, p), rel=1e-6)
    # measured 1.25 (4 epochs, CPU); the class prior scores 1.78, a uniform guess 1.87
    assert run.record.cv < 1.45


def test_votes_other_than_the_targets_are_refused():
    from medalist.core.errors import ConfigError
    from medalist.models import create_model
    from medalist.models.protocol import FitContext
    from medalist.signal.model import _check_votes

    m = create_model("signal", {"signals": {"columns": ["x"]}, "sample_rate": 100, "votes": ["a", "c"],
                                "branches": [{"name": "w", "input": "raw"}]})
    with pytest.raises(ConfigError, match="the targets are the votes"):
        _check_votes(m.p, FitContext(task="distribution", target=["a", "b"], features=[]))
    _check_votes(m.p, FitContext(task="distribution", target=["a", "c"], features=[]))  # redundant but equal: fine


def test_submit_local_writes_one_column_per_class_and_scores_kl(plaid_dist, monkeypatch, capsys):
    import json

    import polars as pl

    from medalist.metrics.registry import get_metric
    from medalist.workspace.data import target_array
    from tests.conftest import run_medalist

    ws, run = plaid_dist
    monkeypatch.chdir(ws.root)
    code, out, err = run_medalist(monkeypatch, capsys, "submit", run.id, "--local", "--json")
    assert code == 0, err
    rec = json.loads(out)
    sub = pl.read_csv(ws.root / rec["file"])
    assert sub.columns == ["id", *VOTES] and sub.height == 20
    answers = pl.read_parquet(ws.answers_path)
    joined = answers.join(sub.rename({c: f"s_{c}" for c in VOTES}), on="id")
    for usage, key in (("Public", "public"), ("Private", "private")):
        part = joined.filter(pl.col("usage") == usage)
        want = get_metric("kl")(target_array("distribution", VOTES, part), part.select([f"s_{c}" for c in VOTES]).to_numpy())
        assert rec[key] == pytest.approx(want, rel=1e-9)
    assert 0.3 < rec["public"] < 2.5


def test_min_votes_and_curricula_use_the_raw_vote_totals():
    for p in ("torch", "lightning"):
        if importlib.util.find_spec(p) is None:
            pytest.skip(f"{p} not installed")
    import polars as pl

    from medalist.models import create_model
    from medalist.models.protocol import FitContext

    rng = np.random.default_rng(0)
    n = 40
    votes = rng.integers(0, 5, (n, 3)).astype(float)
    votes[votes.sum(axis=1) == 0, 0] = 1.0
    frame = pl.DataFrame({"x": pl.Series([rng.standard_normal(32).astype(np.float32).tolist() for _ in range(n)],
                                         dtype=pl.List(pl.Float32)), **{f"c{k}": votes[:, k] for k in range(3)}})
    params = {"signals": {"columns": ["x"]}, "sample_rate": 100, "batch_size": 16, "min_votes": 4,
              "curriculum": [{"epochs": 1, "filter": "all"}, {"epochs": 1, "filter": "votes >= 8"}],
              "branches": [{"name": "w", "input": "raw", "hidden": 4, "layers": 1}]}
    ctx = FitContext(task="distribution", target=["c0", "c1", "c2"], features=[], threads=1, seed=0)
    m = create_model("signal", params).fit(frame, None, ctx)
    total = votes.sum(axis=1)
    assert m.stage_rows_ == [int((total >= 4).sum()), int((total >= 8).sum())]
    assert m.loss_ == "kl" and m.predict(frame).shape == (n, 3)


def test_vision_losses_and_outputs_for_a_distribution():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch not installed")
    import torch

    from medalist.core.errors import ConfigError
    from medalist.vision.loaders import soft_targets
    from medalist.vision.net import logits_to_pred, per_sample_loss

    y = np.array([[0.75, 0.25, 0.0], [0.0, 0.5, 0.5]])
    assert soft_targets(y, "distribution", 3).tolist() == y.astype(np.float32).tolist()  # already fractions
    logits = torch.tensor([[2.0, 1.0, -1.0], [0.0, 1.0, 1.0]])
    p = logits_to_pred(logits, "distribution", "kl")
    assert torch.allclose(p.sum(1), torch.ones(2))
    from medalist.metrics.registry import get_metric

    kl = per_sample_loss(logits, torch.tensor(y, dtype=torch.float32), "distribution", "kl").mean().item()
    assert kl == pytest.approx(get_metric("kl")(y, p.numpy()), rel=1e-5)
    with pytest.raises(ConfigError, match="for a distribution task"):
        per_sample_loss(logits, torch.tensor(y), "distribution", "mse")


SUMMARY = """\
model:
  name: lightgbm
  params: {learning_rate: 0.05, num_leaves: 15, min_child_samples: 10, verbosity: -1, deterministic: true}
  num_boost_round: 400
columns: {keep: [current]}
features:
  - {block: expr, name: n_samples, sql: "array_length(current)"}
  - {block: expr, name: mean_current, sql: "array_mean(current)"}
  - {block: expr, name: max_current, sql: "array_upper(current)"}
  - {block: expr, name: min_current, sql: "array_lower(current)"}
  - {block: expr, name: peak_to_peak, sql: "array_upper(current) - array_lower(current)"}
threads: 1
seeds: [42]
"""


def test_hms_chain_is_kl_end_to_end_and_the_conv_stack_beats_every_member(plaid_dist, monkeypatch, capsys):
    """CV, blend, conv1x3 stack and submit --local on vote targets, all scored by KL; the stack's
    nested CV beats the best member's."""
    import json

    from medalist.cv.runner import train
    from medalist.ensemble import blend, stack
    from medalist.metrics.registry import get_metric
    from tests.conftest import run_medalist

    ws, sig = plaid_dist
    (ws.root / "configs" / "summary.yaml").write_text(SUMMARY)
    monkeypatch.chdir(ws.root)
    summ = train(ws, ws.root / "configs" / "summary.yaml", tracking=False)
    bl = blend(ws, [sig.id, summ.id], "hill-climb", tracking=False)
    st = stack(ws, [sig.id, summ.id], "conv1x3", tracking=False)
    import polars as pl

    from medalist.workspace.data import target_array

    kl, train = get_metric("kl"), pl.read_parquet(ws.train_path, columns=["id", *VOTES])
    for run in (sig, summ, bl, st):
        assert run.metrics["metric"] == "kl"
        oof = train.join(run.oof(), on="id").drop_nans().drop_nulls()
        cols = [c for c in oof.columns if c.startswith("pred_")]
        assert len(cols) == 11 and oof.height >= 1000
        assert run.cv == pytest.approx(kl(target_array("distribution", VOTES, oof), oof.select(cols).to_numpy()), rel=1e-6)
    best = min(sig.cv, summ.cv)
    assert bl.cv <= best + 1e-9
    # measured 2026-12-01: signal 1.2545, summary 0.9195, hill-climb blend 0.8978, conv1x3 stack 0.8758 (0.044 below
    # the best member); the test asks for half that gain
    assert st.cv < best - 0.02, (st.cv, sig.cv, summ.cv)
    code, out, err = run_medalist(monkeypatch, capsys, "submit", st.id, "--local", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert 0.0 < rec["public"] < best + 0.5
