"""Packaging round trip: the archive is loaded by path by kaggle-environments and wins games."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

from medalist.core.errors import ConfigError
from medalist.twentyq.package import RUNTIME_MODULES, package_submission


def _extract(path, dest):
    dest.mkdir()
    with tarfile.open(path) as t:
        t.extractall(dest, filter="data")
    return dest


def test_archive_layout_and_validation(tmp_path):
    words = ["apple pie", "banana", "cherry"]
    p = package_submission(tmp_path / "s.tar.gz", words, [0.5, 0.3, 0.2], bank=["Is it food?"],
                           bank_p=np.array([[0.9, 0.8, 0.7]]), eps=0.05, handshake=False)
    with tarfile.open(p) as t:
        names = set(t.getnames())
    assert {"main.py", "candidates.tsv", "config.json", "bank.txt", "bank_p.npy"} <= names
    assert {f"lib/medalist_twentyq/{m}" for m in RUNTIME_MODULES} <= names
    d = _extract(p, tmp_path / "x")
    assert json.loads((d / "config.json").read_text()) == {"eps": 0.05, "handshake": False}
    with pytest.raises(ConfigError):
        package_submission(tmp_path / "bad.tar.gz", [])
    with pytest.raises(ConfigError):
        package_submission(tmp_path / "bad.tar.gz", words, [1.0])
    with pytest.raises(ConfigError):
        package_submission(tmp_path / "bad.tar.gz", words, eps=0.7)
    with pytest.raises(ConfigError):
        package_submission(tmp_path / "bad.tar.gz", ["tab\there"])
    assert not (tmp_path / "bad.tar.gz").exists()


def test_main_py_runs_without_medalist(tmp_path):
    """main.py only needs numpy and the archive: exec it like kaggle-environments does."""
    p = package_submission(tmp_path / "s.tar.gz", ["apple pie", "banana", "cherry"], bank=["Is it food?"],
                           bank_p=np.array([[0.9, 0.2, 0.7]]), semantic_answerer=False)
    d = _extract(p, tmp_path / "x")
    env: dict = {}
    exec(compile((d / "main.py").read_text(), str(d / "main.py"), "exec"), env)
    agent = [v for v in env.values() if callable(v)][-1]
    assert agent.__name__ == "agent"
    assert agent({"turnType": "ask", "questions": [], "answers": [], "guesses": []}, {}) == "Is it Agent Alpha?"
    assert agent({"turnType": "answer", "questions": ["Is it food?"], "keyword": "banana"}, {}) == "no"
    assert agent({"turnType": "answer", "questions": ["Is it food?"], "keyword": "cherry"}, {}) == "yes"
    assert agent({"turnType": "guess", "questions": ["Is it Agent Alpha?"], "answers": ["yes"], "guesses": []}, {}) == "apple pie"


def test_semantic_answerer_in_the_archive(tmp_path):
    """The archive ships WordNet + calibration; main.py answers semantic questions from it, not 'no' by default."""
    from medalist.core.errors import DataError

    with pytest.raises(DataError, match="wordnet-base"):
        package_submission(tmp_path / "n.tar.gz", ["apple"], wordnet_dir=str(tmp_path / "nowhere"))
    wn = tmp_path / "wn"
    wn.mkdir()
    from tests.twentyq.test_semantic import DATA, INDEX

    (wn / "data.noun").write_text(DATA)
    (wn / "index.noun").write_text(INDEX)
    (wn / "noun.exc").write_text("")
    p = package_submission(tmp_path / "s.tar.gz", ["spoon", "owl"], wordnet_dir=str(wn))
    with tarfile.open(p) as t:
        names = set(t.getnames())
    assert {"wordnet/data.noun.gz", "wordnet/index.noun.gz", "wordnet/noun.exc.gz", "semantic_calibration.json",
            "lib/medalist_twentyq/semantic.py", "lib/medalist_twentyq/wordnet.py"} <= names
    d = _extract(p, tmp_path / "x")
    env: dict = {}
    exec(compile((d / "main.py").read_text(), str(d / "main.py"), "exec"), env)
    agent = env["agent"]
    ask = lambda q, k: agent({"turnType": "answer", "questions": [q], "keyword": k}, {})  # noqa: E731
    assert ask("Is it an animal?", "owl") == "yes" and ask("Is it an animal?", "spoon") == "no"
    assert ask("Is it man-made?", "spoon") == "yes" and ask("Is it man-made?", "owl") == "no"
    assert ask('Does the keyword start with the letter "S"?', "spoon") == "yes"


def test_round_trip_through_the_env(tmp_path):
    pytest.importorskip("kaggle_environments", reason="kaggle-environments==1.18.0 (medalist[twentyq]) is not installed")
    from medalist.twentyq.harness import load_env
    from medalist.twentyq.keywords import env_keywords

    kws = env_keywords()
    p = package_submission(tmp_path / "submission.tar.gz", [k.keyword for k in kws], eps=0.0, handshake=True)
    main = str(_extract(p, tmp_path / "agent") / "main.py")
    make, mod = load_env()
    env = make("llm_20_questions", debug=True)
    for kw in (kws[100], kws[433]):
        mod.keyword, mod.alts, mod.category = kw.keyword, list(kw.alts), "things"
        steps = env.run([main, main, "random_guesser", "random_answerer"])
        last = steps[-1][0]
        assert last["status"] == "DONE" and last["reward"] >= 11, (kw, last)   # won by round 10
        assert max(s[0]["observation"]["step"] for s in steps) <= 30
        durations = [a.get("duration", 0) for a in env.logs[-1] if isinstance(a, dict)] if env.logs else []
        assert all(d < 60 for d in durations)
