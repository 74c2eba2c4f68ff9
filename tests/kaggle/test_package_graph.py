"""A package re-predicts the whole run graph (oof_feature rank, target encoding, group aggregates,
model_selection_by) on test rows it has never seen under these ids, in another order."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import FoldsError, RunError
from medalist.kaggle.package import build_package, predict_package
from medalist.kaggle.package.build import input_folder


@pytest.fixture
def package(chain, tmp_path):
    ws, base, top = chain
    res = build_package(ws, [top.id], tmp_path / "pkg", wheels=False)
    return ws, base, top, res


def test_package_holds_the_graph_and_reproduces_every_run(package):
    ws, base, top, res = package
    assert res["order"] == [base.id, top.id]
    assert res["probe"]["max_abs_diff"] == {base.id: 0.0, top.id: 0.0}
    pkg = ws.root.parent / "pkg"
    manifest = json.loads((pkg / "package.json").read_text())
    assert manifest["graph"][top.id]["predict_from"] == [base.id]
    assert manifest["graph"][top.id]["in_fold"] == ["target_encode"]
    assert "answers" not in manifest["workspace"]["competition"]  # hidden answers never ship
    assert (pkg / "workspace" / "folds.parquet").is_file() and (pkg / "runs" / base.id / "models").is_dir()


def _rekeyed(ws, dest, *, frac: float, seed: int = 0):
    """The test rows under new ids, shuffled, a share ``frac`` of them: {new id: old id}."""
    rng = np.random.default_rng(seed)
    id_col = ws.competition.id
    test = pl.read_csv(ws.test_path) if ws.test_path.suffix == ".csv" else pl.read_parquet(ws.test_path)
    order = rng.permutation(test.height)[: int(round(frac * test.height))]
    sub = test[order.tolist()]
    new_ids = pl.Series(id_col, (sub[id_col].to_numpy() + 10_000_000).tolist())
    sub = sub.with_columns(new_ids)
    dest.mkdir()
    for p in (ws.train_path,):
        shutil.copy(p, dest / p.name)
    sub.write_csv(dest / ws.test_path.name) if ws.test_path.suffix == ".csv" else sub.write_parquet(dest / ws.test_path.name)
    sample = pl.read_csv(ws.sample_submission_path)
    value = [c for c in sample.columns if c != id_col]
    pl.DataFrame({id_col: new_ids}).with_columns([pl.lit(sample[c][0]).alias(c) for c in value]).write_csv(dest / ws.sample_submission_path.name)
    return dict(zip(new_ids.to_list(), (new_ids - 10_000_000).to_list()))


def test_rekeyed_shuffled_test_gets_the_same_predictions_per_row(package, tmp_path):
    """Every feature of this graph is invariant to row order and ids (ranks within test, aggregates over
    train+test), so the same rows under new ids in another order must get the same predictions."""
    ws, base, top, _ = package
    mapping = _rekeyed(ws, tmp_path / "input", frac=1.0)
    out = tmp_path / "out" / "submission.csv"
    predict_package(ws.root.parent / "pkg", tmp_path / "input", out)
    for run in (base, top):
        got = pl.read_parquet(out.parent / f"test_{run.id}.parquet")
        old = got.with_columns(pl.col(ws.competition.id).replace_strict(mapping)).sort(ws.competition.id)
        want = run.test().sort(ws.competition.id)
        assert np.allclose(old["pred"].to_numpy(), want["pred"].to_numpy(), rtol=0, atol=1e-9), run.id
    sub = pl.read_csv(out)
    assert sub[ws.competition.id].to_list() == list(mapping)


def test_subsample_of_unseen_rows_runs_and_the_upstream_run_is_per_row(package, tmp_path):
    ws, base, top, _ = package
    mapping = _rekeyed(ws, tmp_path / "input", frac=0.6, seed=3)
    out = tmp_path / "out" / "submission.csv"
    predict_package(ws.root.parent / "pkg", tmp_path / "input", out)
    got = pl.read_parquet(out.parent / f"test_{base.id}.parquet")
    old = got.with_columns(pl.col(ws.competition.id).replace_strict(mapping))
    want = old.select(ws.competition.id).join(base.test(), on=ws.competition.id, how="left", maintain_order="left")
    assert np.allclose(old["pred"].to_numpy(), want["pred"].to_numpy(), rtol=0, atol=1e-9)
    top_pred = pl.read_parquet(out.parent / f"test_{top.id}.parquet")["pred"].to_numpy()
    assert np.isfinite(top_pred).all() and len(top_pred) == len(mapping)


def test_graph_errors_name_the_run_and_leave_nothing(chain, tmp_path):
    ws, base, top = chain
    out = tmp_path / "pkg"
    rec = base.record
    rec.folds_hash = "0123456789ab"
    rec.save(base.path / "run.json")
    with pytest.raises(FoldsError, match=rf"run '{base.id}' \(an input of the packaged runs\).*0123456789ab"):
        build_package(ws, [top.id], out, wheels=False)
    assert not out.exists()
    shutil.rmtree(base.path)
    with pytest.raises(RunError, match=rf"run '{base.id}' \(an input of '{top.id}'\).*no such run"):
        build_package(ws, [top.id], out, wheels=False)
    assert not out.exists()


def test_input_folder_mirrors_the_data_folder(chain, tmp_path):
    ws, _, _ = chain
    d = input_folder(ws, tmp_path / "in")
    assert {p.name for p in d.iterdir()} >= {ws.train_path.name, ws.test_path.name, ws.sample_submission_path.name}


def test_package_over_the_dataset_limit_is_refused_and_removed(chain, tmp_path):
    from medalist.kaggle.package import PackageError

    ws, _, top = chain
    out = tmp_path / "pkg"
    with pytest.raises(PackageError, match=r"dataset size limit|limit"):
        build_package(ws, [top.id], out, wheels=False, size_limit=10_000)
    assert not out.exists()


def test_wheel_missing_for_the_target_names_the_package_and_leaves_nothing(chain, tmp_path, monkeypatch):
    """A dependency with no wheel for Kaggle's image: the error names it and the fix; no half-built package."""
    from medalist.kaggle.package import PackageError, deps, wheels

    ws, _, top = chain
    monkeypatch.setattr(deps, "_pip", lambda args, what: None)  # no medalist wheel build here

    def no_wheel(pin, tmp, target):
        raise wheels._no_wheel_error(pin, target, "no matching distribution")

    monkeypatch.setattr(wheels, "_fetch_one", no_wheel)
    out = tmp_path / "pkg"
    with pytest.raises(PackageError, match=r"wheel of \S+ \S+ for cp311 manylinux") as e:
        build_package(ws, [top.id], out, target=wheels.Target.parse(python="3.11"), skip=set())
    assert "--skip" in str(e.value) and "--python/--platform" in str(e.value)
    assert not out.exists()


def test_budget_warns_when_the_hidden_test_would_not_fit(package):
    ws, base, top, res = package
    from medalist.kaggle.package.build import time_budget

    b = res["budget"]
    assert b["measured_rows"] == top.test().height and b["seconds_per_1000_rows"] > 0
    big = time_budget(res["probe"], test_rows=10**10, limit_hours=9)
    assert not big["fits"] and "exceeds the 9 h limit" in big["warning"]


def test_pickles_this_workspace_recorded_stay_loadable_in_the_notebook(chain, tmp_path):
    """An sklearn model skops could not save is a joblib file whose hash the workspace recorded: the package
    carries that record (and only for files it ships), so the notebook's rebuilt workspace loads it."""
    import joblib

    from medalist.core.errors import DataError
    from medalist.core.safety import check_pickle_source, record_pickle
    from medalist.kaggle.package.runtime import mirror_workspace

    ws, base, top = chain
    mine, theirs = base.path / "models" / "mine.joblib", base.path / "models" / "theirs.joblib"
    joblib.dump({"a": 1}, mine)
    record_pickle(mine)
    joblib.dump({"b": 2}, theirs)  # never recorded: not vouched for here, nor in the notebook
    build_package(ws, [top.id], tmp_path / "pkg", wheels=False)
    lines = (tmp_path / "pkg" / "workspace" / "pickles.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "mine.joblib" in lines[0]
    input_dir = input_folder(ws, tmp_path / "input")
    root = mirror_workspace(tmp_path / "pkg", input_dir, tmp_path / "scratch")
    check_pickle_source(root / "runs" / base.id / "models" / "mine.joblib")
    with pytest.raises(DataError, match="not recorded"):
        check_pickle_source(root / "runs" / base.id / "models" / "theirs.joblib")
