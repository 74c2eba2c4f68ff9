"""The Kaggle notebook of a package: it validates and runs in a fake /kaggle layout; pushing it and submitting
the pushed version go through the real `kaggle` client against the local stub."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medalist.cli.app import app
from medalist.core.errors import ConfigError, SubmissionError
from medalist.kaggle.package.kernel import ROOT_ENV, write_kernel
from medalist.runs.store import list_runs

runner = CliRunner()

# a stand-in for the package's inference.py: same CLI, writes the sample submission with a constant prediction
FAKE_INFERENCE = """
import argparse, csv
from pathlib import Path
ap = argparse.ArgumentParser()
ap.add_argument("--input", type=Path)
ap.add_argument("--out", type=Path)
a = ap.parse_args()
rows = list(csv.reader(open(a.input / "sample_submission.csv")))
with open(a.out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(rows[0])
    for r in rows[1:]:
        w.writerow([r[0], "0.25"])
print("fake inference from", Path(__file__).parent.name)
"""


def _package(folder):
    folder.mkdir(parents=True)
    (folder / "inference.py").write_text(FAKE_INFERENCE)
    (folder / "package.json").write_text(json.dumps({"workspace": {"competition": {"data": {"sample_submission": "data/sample_submission.csv"}}}}))
    return folder


@pytest.mark.parametrize("layout", ["old", "new", "other"])
def test_notebook_validates_and_runs_in_a_kaggle_layout(tmp_path, monkeypatch, layout):
    nbformat = pytest.importorskip("nbformat")
    pkg = tmp_path / "pkg"
    _package(pkg)
    res = write_kernel(pkg, dataset="me/covid-pkg", competition="covid-comp", kernel=None, title="medalist covid fast-001")
    assert res["kernel"] == "me/medalist-covid-fast-001"
    nb = nbformat.read(pkg / "kernel" / "inference.ipynb", as_version=4)
    nbformat.validate(nb)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    meta = json.loads((pkg / "kernel" / "kernel-metadata.json").read_text())
    assert meta == {"id": "me/medalist-covid-fast-001", "title": "medalist covid fast-001", "code_file": "inference.ipynb",
                    "language": "python", "kernel_type": "notebook", "is_private": True, "enable_gpu": False, "enable_tpu": False,
                    "enable_internet": False, "dataset_sources": ["me/covid-pkg"], "competition_sources": ["covid-comp"],
                    "kernel_sources": [], "model_sources": []}
    # the fake /kaggle: the package dataset and the competition data mounted as Kaggle would
    root = tmp_path / "kaggle"
    where = {"old": ("input/covid-pkg", "input/covid-comp"),
             "new": ("input/datasets/me/covid-pkg", "input/competitions/covid-comp"),
             "other": ("input/mounts/x/covid-pkg-v3", "input/data/covid-comp-files")}[layout]
    _package(root / where[0])
    (root / where[1]).mkdir(parents=True)
    (root / where[1] / "sample_submission.csv").write_text("id,target\n1,0.5\n2,0.5\n3,0.5\n")
    (root / "input" / "decoy").mkdir()  # another attached dataset
    (root / "input" / "decoy" / "inference.py").write_text("raise SystemExit('wrong package')\n")
    monkeypatch.setenv(ROOT_ENV, str(root))
    ns: dict = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, "inference.ipynb", "exec"), ns)
    assert ns["PKG"] == root / where[0] and ns["DATA"] == root / where[1]
    assert (root / "working" / "submission.csv").read_text().splitlines() == ["id,target", "1,0.25", "2,0.25", "3,0.25"]
    assert ns["submission"].shape == (3, 2)


def test_notebook_names_a_missing_input(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    pkg = _package(tmp_path / "pkg")
    write_kernel(pkg, dataset="me/covid-pkg", competition="covid-comp", kernel="me/infer", title="covid inference", gpu=True, private=False)
    meta = json.loads((pkg / "kernel" / "kernel-metadata.json").read_text())
    assert meta["id"] == "me/infer" and meta["enable_gpu"] is True and meta["is_private"] is False
    (tmp_path / "kaggle" / "input").mkdir(parents=True)
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "kaggle"))
    nb = nbformat.read(pkg / "kernel" / "inference.ipynb", as_version=4)
    with pytest.raises(FileNotFoundError, match="me/covid-pkg is not under .*add it as an input"):
        exec(compile(nb.cells[1].source, "nb", "exec"), {})
    with pytest.raises(ConfigError, match="OWNER/DATASET"):
        write_kernel(pkg, dataset="covid-pkg", competition="covid-comp", kernel=None, title="covid inference")
    with pytest.raises(ConfigError, match="at least 5"):
        write_kernel(pkg, dataset="me/covid-pkg", competition="covid-comp", kernel=None, title="cv")


def _pushed_package(tmp_path, title="medalist covid fast-001"):
    pkg = _package(tmp_path / "pkg")
    (pkg / "dataset-metadata.json").write_text(json.dumps({"title": title, "id": "medalist-tester/covid-pkg", "licenses": [{"name": "CC0-1.0"}]}))
    return pkg


def test_push_kernel_versions_and_submit_the_pushed_version(trained_ws, stub, tmp_path, monkeypatch):
    from medalist.kaggle.api import push_dataset, push_kernel
    from medalist.kaggle.submit import pushed_kernel, read_ledger, record_kernel
    from tests.kaggle.test_kaggle import _kaggle_ws

    ws = _kaggle_ws(trained_ws, stub, tmp_path, monkeypatch)
    rid, other = [r.id for r in list_runs(ws)][:2]
    pkg = _pushed_package(tmp_path)
    # the package dataset: created, then a new version of it
    assert push_dataset(pkg)["version"] == "new"
    assert push_dataset(pkg, message="v2")["version"] == "update"
    assert len(stub.datasets["medalist-tester/covid-pkg"]["versions"]) == 2
    write_kernel(pkg, dataset="medalist-tester/covid-pkg", competition="covid-comp", kernel=None, title="medalist covid fast-001")
    first = push_kernel(pkg)  # a package folder: its kernel/ is pushed
    assert first == {"kernel": "medalist-tester/medalist-covid-fast-001", "version": 1,
                     "url": "http://localhost:7777/code/medalist-tester/medalist-covid-fast-001"}
    second = push_kernel(pkg / "kernel")
    assert second["version"] == 2
    body = stub.kernels["medalist-tester/medalist-covid-fast-001"]["versions"][-1]
    assert body["kernelType"] == "notebook" and body["language"] == "python" and body["isPrivate"] is True
    assert body["enableInternet"] is False and body["enableGpu"] is False
    assert body["datasetDataSources"] == ["medalist-tester/covid-pkg"] and body["competitionDataSources"] == ["covid-comp"]
    assert [c["cell_type"] for c in json.loads(body["text"])["cells"]] == ["markdown", "code", "code"]
    # the lead's --push records it; submit RUN --pushed-kernel submits that version through the official client
    record_kernel(ws, [rid], second["kernel"], second["version"], "medalist-tester/covid-pkg")
    assert pushed_kernel(ws, rid)["version"] == 2 and pushed_kernel(ws, other) is None
    stub.check_kernels = True
    res = runner.invoke(app, ["submit", rid, "--pushed-kernel", "-m", "nb", "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.output)
    assert rec["kernel"] == "medalist-tester/medalist-covid-fast-001@2" and rec["run"] == rid
    sub = stub.submissions[-1]
    assert (sub["kernel"], sub["kernelVersion"], sub["fileName"]) == ("medalist-tester/medalist-covid-fast-001", 2, "submission.csv")
    assert f"[medalist run={rid} cv=" in sub["description"]
    row = read_ledger(ws).row(-1, named=True)
    assert row["run"] == rid and row["kernel"] == "medalist-tester/medalist-covid-fast-001@2" and row["kaggle_ref"] == rec["kaggle_ref"]
    # another version of the same notebook
    res = runner.invoke(app, ["submit", rid, "--pushed-kernel", "--version", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert stub.submissions[-1]["kernelVersion"] == 1
    # a code competition: the pushed notebook is the default
    (ws.root / "kaggle.yaml").write_text("competition: covid-comp\ncode: true\n")
    res = runner.invoke(app, ["submit", rid, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["kernel"] == "medalist-tester/medalist-covid-fast-001@2" and len(stub.submissions) == 3
    n = read_ledger(ws).height
    # a run never pushed; a version Kaggle does not have: clear errors, nothing recorded
    from medalist.kaggle.submit import submit

    with pytest.raises(SubmissionError, match=rf"run '{other}'.*a run pushed as a Kaggle notebook.*--kernel OWNER/NOTEBOOK"):
        submit(ws, other, use_pushed=True)
    with pytest.raises(SubmissionError, match="version 7 not found"):
        submit(ws, rid, use_pushed=True, version=7)
    with pytest.raises(SubmissionError, match="both"):
        submit(ws, rid, use_pushed=True, kernel="me/x", version=1)
    assert read_ledger(ws).height == n and len(stub.submissions) == 3
    assert len(list(ws.submissions_dir.glob("*.csv"))) == n


def test_push_kernel_with_unknown_inputs_is_a_clear_error(stub, tmp_path):
    from medalist.kaggle.api import KaggleError, push_kernel

    stub.add_competition("covid-comp", {"sample_submission.csv": b"id,target\n1,0\n"})
    pkg = _pushed_package(tmp_path)
    write_kernel(pkg, dataset="medalist-tester/covid-pkg", competition="covid-comp", kernel=None, title="medalist covid fast-001")
    with pytest.raises(KaggleError, match="unknown dataset sources: medalist-tester/covid-pkg.*medalist package --push"):
        push_kernel(pkg)
    assert not stub.kernels
    with pytest.raises(KaggleError, match="kernel-metadata.json.*no such file"):
        push_kernel(tmp_path / "nothing-here")


def test_record_kernel_refuses_bad_values(covid_ws):
    from medalist.kaggle.submit import KERNELS_FILE, pushed_kernel, record_kernel

    with pytest.raises(SubmissionError, match="OWNER/NOTEBOOK"):
        record_kernel(covid_ws, ["a-001"], "no-owner", 1, "me/pkg")
    with pytest.raises(SubmissionError, match="version number"):
        record_kernel(covid_ws, ["a-001"], "me/nb", 0, "me/pkg")
    got = record_kernel(covid_ws, ["a-001", "b-002"], "me/nb", 3, "me/pkg")
    assert set(got) == {"a-001", "b-002"} and got["a-001"]["version"] == 3 and got["a-001"]["dataset"] == "me/pkg"
    record_kernel(covid_ws, ["a-001"], "me/nb", 4, "me/pkg")
    assert pushed_kernel(covid_ws, "a-001")["version"] == 4 and pushed_kernel(covid_ws, "b-002")["version"] == 3
    (covid_ws.root / KERNELS_FILE).write_text("{oops")
    with pytest.raises(ConfigError, match="kernels.json"):
        pushed_kernel(covid_ws, "a-001")


def test_submit_help_documents_the_kernel_options():
    res = runner.invoke(app, ["submit", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "--pushed-kernel" in text and "--kernel" in text and "kernels.json" in text


def test_package_push_then_submit_the_notebook_through_the_cli(trained_ws, stub, tmp_path, monkeypatch):
    """`medalist package RUN OUT --push` versions the dataset and pushes the notebook through the official client;
    `medalist submit RUN` in a code competition then submits that notebook version and the ledger links it."""
    from medalist.kaggle.package import deps
    from medalist.kaggle.submit import read_ledger
    from tests.kaggle.test_kaggle import _kaggle_ws

    ws = _kaggle_ws(trained_ws, stub, tmp_path, monkeypatch)
    (ws.root / "kaggle.yaml").write_text("competition: covid-comp\ncode: true\n")
    rid = [r.id for r in list_runs(ws) if r.record.model == "lightgbm"][0]

    def no_wheels(dep, src, out, **kw):  # the wheels are tested in test_wheels/test_verify; here the push and submit
        (out / "wheels").mkdir()
        return {"pins": [], "shipped": [], "skipped": [], "built": [], "bytes": 0}

    monkeypatch.setattr(deps, "write_wheels", no_wheels)
    out = tmp_path / "pkg"
    res = runner.invoke(app, ["package", rid, str(out), "--slug", "medalist-tester/covid-pkg", "--push", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["push"]["kernel"]["version"] == 1 and info["kernel"] == info["push"]["kernel"]["kernel"]
    assert stub.datasets["medalist-tester/covid-pkg"]["versions"]
    body = stub.kernels[info["kernel"]]["versions"][-1]
    assert body["datasetDataSources"] == ["medalist-tester/covid-pkg"] and body["competitionDataSources"] == ["covid-comp"]
    assert body["enableInternet"] is False
    stub.check_kernels = True
    res = runner.invoke(app, ["submit", rid, "-m", "from the notebook", "--json"])
    assert res.exit_code == 0, res.output
    sub = stub.submissions[-1]
    assert (sub["kernel"], sub["kernelVersion"]) == (info["kernel"], 1)
    row = read_ledger(ws).row(-1, named=True)
    assert row["run"] == rid and row["kernel"] == f"{info['kernel']}@1"
