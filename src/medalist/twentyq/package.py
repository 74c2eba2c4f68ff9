"""Kaggle submission packaging: ``submission.tar.gz`` with ``main.py``, the agent code and its data.

The archive holds ``main.py`` (defines ``agent(obs, cfg)`` last, as kaggle-environments takes the last
callable), ``lib/medalist_twentyq/`` (verbatim copies of the pure-numpy runtime modules: rules,
guesser, answerer, agent), ``candidates.tsv`` (word, prior), ``bank.txt`` + ``bank_p.npy`` (semantic
questions and their p(yes) matrix, optional) and ``config.json`` (noise ε, handshake). The
environment loads it by the path of ``main.py``; nothing outside the archive and numpy is needed.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["package_submission", "RUNTIME_MODULES", "MAIN_PY"]

RUNTIME_MODULES = ("rules.py", "guesser.py", "answerer.py", "agent.py", "wordnet.py", "semantic.py")
WORDNET_FILES = ("index.noun", "data.noun", "noun.exc")

MAIN_PY = r'''"""20 Questions agent packaged by medalist (medalist twentyq package)."""
import inspect
import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(inspect.currentframe().f_code.co_filename))
if not os.path.exists(os.path.join(_HERE, "config.json")):
    _HERE = "/kaggle_simulations/agent"
if os.path.join(_HERE, "lib") not in sys.path:
    sys.path.insert(0, os.path.join(_HERE, "lib"))

_STATE = {}


def _build():
    import numpy as np
    from medalist_twentyq.agent import make_agent
    from medalist_twentyq.answerer import Answerer, TableAnswerModel
    from medalist_twentyq.guesser import Guesser

    with open(os.path.join(_HERE, "config.json")) as fh:
        cfg = json.load(fh)
    words, prior = [], []
    with open(os.path.join(_HERE, "candidates.tsv"), encoding="utf-8") as fh:
        for line in fh:
            w, p = line.rstrip("\n").split("\t")[:2]
            words.append(w)
            prior.append(float(p))
    bank, bank_p = [], None
    if os.path.exists(os.path.join(_HERE, "bank.txt")):
        with open(os.path.join(_HERE, "bank.txt"), encoding="utf-8") as fh:
            bank = [q for q in fh.read().split("\n") if q]
        bank_p = np.load(os.path.join(_HERE, "bank_p.npy"))
    guesser = Guesser(words, np.array(prior), bank=bank or None, bank_p=bank_p,
                      eps=cfg.get("eps", 0.1), handshake=cfg.get("handshake", True))
    model = TableAnswerModel(bank, words, bank_p) if bank_p is not None else None
    if os.path.isdir(os.path.join(_HERE, "wordnet")):
        model = _LazySemantic()
    return make_agent(guesser, Answerer(model))


class _LazySemantic:
    """The WordNet semantic answerer, loaded on the first semantic question (about 2 s, once)."""

    name = "semantic-wordnet"

    def __init__(self):
        self._a = None

    def p_yes(self, questions, keywords):
        if self._a is None:
            from medalist_twentyq.semantic import SemanticAnswerer
            from medalist_twentyq.wordnet import WordNet

            with open(os.path.join(_HERE, "semantic_calibration.json")) as fh:
                cal = json.load(fh).get("wordnet_only", {})
            self._a = SemanticAnswerer(WordNet(os.path.join(_HERE, "wordnet")), calibration=cal)
        return self._a.p_yes(questions, keywords)


def agent(obs, cfg=None):
    if "agent" not in _STATE:
        _STATE["agent"] = _build()
    return _STATE["agent"](obs, cfg)
'''


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def package_submission(out: Path | str, words: list[str], prior=None, *, bank: list[str] | None = None,
                       bank_p=None, eps: float = 0.1, handshake: bool = True,
                       semantic_answerer: bool = True, wordnet_dir: str | None = None) -> Path:
    """Write the submission archive to ``out`` (atomically) and return its path.

    With ``semantic_answerer`` the archive also holds WordNet's noun files (gzipped, ``wordnet/``, from
    ``wordnet_dir``, default /usr/share/wordnet) and the fitted calibration, and the agent answers
    semantic questions with :class:`medalist.twentyq.semantic.SemanticAnswerer` (WordNet only).
    """
    from medalist.core.errors import ConfigError, DataError

    from .wordnet import DEFAULT_DIR

    if not words:
        raise ConfigError("candidates", expected="at least one candidate keyword", found="none")
    prior = np.full(len(words), 1.0 / len(words)) if prior is None else np.asarray(prior, dtype=float)
    if prior.shape != (len(words),):
        raise ConfigError("prior", expected=f"{len(words)} values (one per candidate)", found=f"shape {prior.shape}")
    if not 0.0 <= eps < 0.5:
        raise ConfigError("eps", expected="a noise rate in [0, 0.5)", found=str(eps))
    bad = [w for w in words if "\t" in w or "\n" in w]
    if bad:
        raise ConfigError("candidates", expected="words without tabs or newlines", found=repr(bad[0]))
    wn_dir = Path(wordnet_dir or DEFAULT_DIR)
    if semantic_answerer:
        missing = [f for f in WORDNET_FILES if not (wn_dir / f).exists() and not (wn_dir / (f + ".gz")).exists()]
        if missing:
            raise DataError(str(wn_dir), expected="WordNet's " + ", ".join(WORDNET_FILES), found="missing " + ", ".join(missing),
                            fix="apt-get install wordnet-base, pass wordnet_dir, or package without the semantic answerer")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        _add(tar, "main.py", MAIN_PY.encode())
        _add(tar, "lib/medalist_twentyq/__init__.py", b'"""Runtime copy of medalist.twentyq for the Kaggle agent."""\n')
        pkg = resources.files("medalist.twentyq")
        for name in RUNTIME_MODULES:
            _add(tar, f"lib/medalist_twentyq/{name}", pkg.joinpath(name).read_bytes())
        _add(tar, "candidates.tsv", "".join(f"{w}\t{p:.6g}\n" for w, p in zip(words, prior)).encode())
        if bank:
            m = np.asarray(bank_p, dtype=np.float32)
            if m.shape != (len(bank), len(words)):
                raise ConfigError("bank_p", expected=f"shape ({len(bank)}, {len(words)})", found=f"shape {m.shape}")
            _add(tar, "bank.txt", "\n".join(bank).encode())
            buf = io.BytesIO()
            np.save(buf, m)
            _add(tar, "bank_p.npy", buf.getvalue())
        if semantic_answerer:
            for f in WORDNET_FILES:
                src = wn_dir / f
                data = gzip.compress(src.read_bytes(), 9) if src.exists() else (wn_dir / (f + ".gz")).read_bytes()
                _add(tar, f"wordnet/{f}.gz", data)
            _add(tar, "semantic_calibration.json", pkg.joinpath("data", "semantic_calibration.json").read_bytes())
        _add(tar, "config.json", json.dumps({"eps": eps, "handshake": handshake}).encode())
    tmp.replace(out)
    return out
