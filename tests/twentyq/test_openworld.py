"""Open world: surface forms grouped, keyword files, the guesser reaching a group, `bench --open-world`."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from medalist.core.errors import DataError
from medalist.twentyq.guesser import Guesser
from medalist.twentyq.openworld import (
    OpenWorldList,
    match_groups,
    read_keyword_file,
    surface_forms,
)
from medalist.twentyq.rules import parse_rule, rule_truth, same_keyword
from tests.conftest import run_medalist

NO_ENV = importlib.util.find_spec("kaggle_environments") is None
SHARE = {"base": 0.8, "plural": 0.13, "alt": 0.06, "alt_plural": 0.01}
TINY = OpenWorldList(["toolbox", "mask", "battery", "push pin", "spoon", "cup holder", "apron", "sled"],
                     np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05]), ["artifact"] * 8, SHARE,
                     ["tool box", None, None, None, None, None, None, None])


def play_exact(g: Guesser, keyword: str, rounds: int = 20) -> int | None:
    qs, ans, gs = [], [], []
    for r in range(1, rounds + 1):
        q = g.ask(qs, ans, gs)
        kind, arg = parse_rule(q)
        qs.append(q)
        ans.append("yes" if rule_truth(kind, arg, keyword) else "no")
        gs.append(g.guess(qs, ans, gs))
        if same_keyword(gs[-1], keyword):
            return r
    return None


@pytest.mark.parametrize("keyword", ["Tool Box", "Toolbox", "Tool-boxes", "Masks", "Batteries", "Push-pin", "Pushpin",
                                     "Cup Holders", "Spoon"])
def test_every_surface_form_is_reached(keyword):
    words, prior, groups = TINY.entries()
    g = Guesser(words, prior, eps=0.0, groups=groups)
    assert play_exact(g, keyword) is not None


def test_groups_and_recall():
    assert surface_forms("battery") == {"battery": "base", "batteries": "plural"}
    m = match_groups(TINY.words, ["Tool Boxes", "Batteries", "Knife"], splits=TINY.splits)
    assert m.tolist() == [0, 2, -1]
    _words, prior, groups = TINY.entries()
    assert np.isclose(prior.sum(), 1.0) and len(set(groups.tolist())) == len(TINY)
    # a group's mass is its prior, whatever the number of forms
    assert np.isclose(prior[groups == 0].sum(), 0.3)
    with pytest.raises(ValueError, match="groups"):
        Guesser(["a", "b"], groups=[0])


def test_keyword_file(tmp_path):
    p = tmp_path / "kw.txt"
    p.write_text("Spoon\n\n  spoon \nTool  Box\nThe Toolbox\n\n", encoding="utf-8")
    assert read_keyword_file(p) == ["Spoon", "Tool Box"]          # blanks skipped, duplicates (env-equal) dropped
    p.write_text("Spoon\nCr\u00e8me br\u00fbl\u00e9e\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"kw.txt:2.*ASCII"):
        read_keyword_file(p)
    p.write_text("\n \n", encoding="utf-8")
    with pytest.raises(DataError, match="at least one keyword"):
        read_keyword_file(p)
    p.write_bytes(b"Spoon\n\xff\xfe\n")
    with pytest.raises(DataError, match="UTF-8"):
        read_keyword_file(p)
    with pytest.raises(DataError, match="no such file"):
        read_keyword_file(tmp_path / "missing.txt")


def test_cli_open_world_errors(monkeypatch, capsys, tmp_path):
    p = tmp_path / "kw.txt"
    p.write_text("Spoon\n", encoding="utf-8")
    code, _out, err = run_medalist(monkeypatch, capsys, "twentyq", "bench", "--keywords-file", str(p))
    assert code != 0 and "--open-world" in err
    code, _out, err = run_medalist(monkeypatch, capsys, "twentyq", "bench", "--open-world", "--candidates", "0")
    assert code != 0 and "--candidates" in err
    p.write_text("Caf\u00e9\n", encoding="utf-8")
    code, _out, err = run_medalist(monkeypatch, capsys, "twentyq", "bench", "--open-world", "--keywords-file", str(p))
    assert code != 0 and "kw.txt:1" in err


@pytest.mark.slow  # ~10 s unloaded (the environment's import), 49 s under today's load
@pytest.mark.skipif(NO_ENV, reason="kaggle-environments==1.18.0 (medalist[twentyq]) is not installed")
def test_cli_bench_open_world_through_the_env(monkeypatch, capsys, tmp_path):
    import medalist.twentyq.openworld as ow

    seen = {}

    def fake(train, **kw):
        seen["train"] = train
        return TINY

    monkeypatch.setattr(ow, "cached_open_world", fake)
    p = tmp_path / "kw.txt"
    p.write_text("Tool Box\nBatteries\nKnife\nAdvertisement\n", encoding="utf-8")
    code, out, err = run_medalist(monkeypatch, capsys, "twentyq", "bench", "--open-world", "--keywords-file", str(p),
                                  "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["open_world"] and res["recall"] == 0.5 and res["solved"] == 2 and res["candidate_groups"] == 8
    # the list is built from the public keywords minus the ones played
    assert "Advertisement" not in seen["train"] and len(seen["train"]) < 578
