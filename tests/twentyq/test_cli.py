"""`medalist twentyq bench | package | candidates` through the real CLI entry point."""

from __future__ import annotations

import importlib.util
import json
import tarfile

import pytest

from medalist.twentyq.candidates import WORDNET_NOUNS
from tests.conftest import run_medalist


def cli(monkeypatch, capsys, *args):
    return run_medalist(monkeypatch, capsys, "twentyq", *args)


NO_ENV = importlib.util.find_spec("kaggle_environments") is None


@pytest.mark.skipif(NO_ENV, reason="kaggle-environments==1.18.0 (medalist[twentyq]) is not installed")
def test_bench_json_and_table(monkeypatch, capsys):
    # not importorskip: the first import of kaggle_environments must happen inside the command, which
    # keeps its import chatter off stdout so --json prints exactly one JSON object
    code, out, err = cli(monkeypatch, capsys, "bench", "--limit", "6", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert {"solve_rate", "mean_rounds", "worst_round", "mean_reward", "games"} <= set(res)
    assert res["games"] == 6 and res["solve_rate"] == 1.0 and res["worst_round"] <= 4     # 6 candidates
    assert res["solve_rate_bound"] == 1.0
    code, out, err = cli(monkeypatch, capsys, "bench", "--limit", "4", "--answerer", "flip", "--eps", "0.1", "--handshake")
    assert code == 0, err
    assert "solve rate" in out and "Wilson" in out and "handshake=True" in out and "best possible" in out
    code, out, err = cli(monkeypatch, capsys, "bench", "--limit", "4", "--answerer", "matrix", "--json")
    assert code == 0, err
    assert json.loads(out)["solve_rate_bound"] is None                                   # not a flip answerer


@pytest.mark.parametrize("args,msg", [
    (["bench", "--answerer", "oracle"], "exact or flip or matrix"),
    (["bench", "--eps", "0.7"], "--eps"),
    (["bench", "--games", "0"], "--games"),
    (["package", "--candidates", "/no/such.tsv"], "no such file"),
    (["package", "--eps", "-1"], "--eps"),
])
def test_bad_options_are_medalist_errors(monkeypatch, capsys, tmp_path, args, msg):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(monkeypatch, capsys, *args)
    assert code == 2 and msg in err and "Traceback" not in err


def test_package_command(monkeypatch, capsys, tmp_path):
    out = tmp_path / "submission.tar.gz"
    code, stdout, err = cli(monkeypatch, capsys, "package", "--out", str(out), "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["candidates"] == 50_000 and res["handshake"] is True and out.exists()
    with tarfile.open(out) as t:
        assert "main.py" in t.getnames()
    code, _, err = cli(monkeypatch, capsys, "package", "--out", str(out))
    assert code == 2 and "--force" in err


@pytest.mark.skipif(not WORDNET_NOUNS.exists(), reason=f"WordNet nouns not at {WORDNET_NOUNS} (apt-get install wordnet-base)")
@pytest.mark.skipif(NO_ENV, reason="kaggle-environments==1.18.0 (medalist[twentyq]) is not installed")
def test_candidates_command(monkeypatch, capsys, tmp_path):
    code, out, err = cli(monkeypatch, capsys, "candidates", "--max", "5000", "--json", "--out", str(tmp_path / "c.tsv"))
    assert code == 0, err
    res = json.loads(out)
    assert res["candidates"] == 5000 and res["held_out"] == 123 and 0.05 < res["recall_held_out"] < 0.6   # 5k candidates: far below the 50k cut
    assert len((tmp_path / "c.tsv").read_text().splitlines()) == 5000
