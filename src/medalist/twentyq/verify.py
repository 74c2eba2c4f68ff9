"""Verify a 20 Questions submission archive the way Kaggle runs it: unpacked alone, in a clean Python, offline.

:func:`verify_agent` unpacks ``submission.tar.gz`` into ``<work>/kaggle_simulations/agent/`` (the layout of
Kaggle's simulation runner, which loads ``main.py`` by its path), makes a clean venv where medalist is not
importable and only kaggle-environments and the libraries it imports are (as on Kaggle's image; torch and
transformers, imported by the environment's demo agents only, are stubbed), and plays games of
``llm_20_questions`` with the agent as guesser and answerer of team 1 against the environment's random agents.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

__all__ = ["verify_agent", "env_distributions"]

# the statuses of an agent that failed: an exception, an invalid action or a timeout
_FAILED = ("ERROR", "INVALID", "TIMEOUT")

_STUBS = r"""
import sys, types
FORCE = sys.argv[-1] == "--stub"
for name in ("torch", "transformers"):  # the environment's flan-t5 demo agents need them; ours do not
    try:
        if FORCE:
            raise ImportError(name)
        __import__(name)
    except Exception:
        stub = types.ModuleType(name)
        stub.cuda = types.SimpleNamespace(is_available=lambda: False)
        stub.T5Tokenizer = stub.T5ForConditionalGeneration = None
        sys.modules[name] = stub
"""

_MEASURE = _STUBS + r"""
import contextlib, importlib.metadata as md, json
with contextlib.redirect_stdout(sys.stderr):
    from kaggle_environments import make
    import kaggle_environments.envs.llm_20_questions.llm_20_questions
    make("llm_20_questions", debug=False)
tops = {m.split(".")[0] for m in sys.modules}
dists = md.packages_distributions()
print(json.dumps(sorted({d for t in tops for d in dists.get(t, [])})))
"""

_PLAY = _STUBS + r"""
import contextlib, json, os, random, time
agent_dir, games, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with contextlib.redirect_stdout(sys.stderr):
    from kaggle_environments import make
    import kaggle_environments.envs.llm_20_questions.llm_20_questions as mod
    from kaggle_environments.envs.llm_20_questions.keywords import KEYWORDS_JSON
pool = [(c["category"], k["keyword"], list(k.get("alts", []))) for c in json.loads(KEYWORDS_JSON) for k in c["words"]]
main = os.path.join(agent_dir, "main.py")
env = make("llm_20_questions", debug=True)
out = []
for category, keyword, alts in random.Random(seed).sample(pool, games):
    mod.keyword, mod.alts, mod.category = keyword, alts, category
    t = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        steps = env.run([main, main, "random_guesser", "random_answerer"])
    secs = time.perf_counter() - t
    last = steps[-1]
    obs = last[0]["observation"]
    errors = [a.get("stderr", "") for step in (env.logs or []) for a in step[:2] if isinstance(a, dict) and a.get("stderr")]
    durations = [a.get("duration", 0.0) for step in (env.logs or []) for a in step[:2] if isinstance(a, dict)]
    out.append({"keyword": keyword, "category": category, "statuses": [last[0]["status"], last[1]["status"]],
                "reward": last[0]["reward"], "rounds": len(obs["guesses"]), "questions": list(obs["questions"]),
                "answers": list(obs["answers"]), "guesses": list(obs["guesses"]), "seconds": round(secs, 3),
                "max_turn_seconds": round(max(durations or [0.0]), 4), "agent_stderr": errors[-1][-3000:] if errors else ""})
print(json.dumps(out))
"""


def env_distributions(work: Path) -> list[str]:
    """The distributions kaggle-environments' ``llm_20_questions`` imports here (torch/transformers stubbed):
    what a clean environment needs preinstalled to play it, as Kaggle's image has them. Measured in a child
    process that writes nothing outside ``work``."""
    from medalist.core.errors import MissingDependencyError
    from medalist.kaggle.package.cleanenv import offline_environ

    res = subprocess.run([sys.executable, "-c", _MEASURE, "--stub"], capture_output=True, text=True, env=offline_environ(work), cwd=work)
    if res.returncode != 0:
        if "No module named 'kaggle_environments'" in res.stderr:
            raise MissingDependencyError("kaggle-environments", "twentyq", purpose="verifying an agent")
        from medalist.kaggle.package.runtime import PackageError

        raise PackageError("kaggle-environments", expected="llm_20_questions to load", found=res.stderr.strip()[-500:])
    skip = {"torch", "transformers", "pip", "setuptools", "medalist"}
    return [d for d in json.loads(res.stdout.strip().splitlines()[-1]) if d.lower() not in skip]


def _unpack(tarball: Path, dest: Path) -> Path:
    from medalist.kaggle.package.runtime import PackageError

    if not tarball.is_file():
        raise PackageError(str(tarball), expected="a submission archive (medalist twentyq package)", found="no such file")
    dest.mkdir(parents=True)
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as e:
        raise PackageError(str(tarball), expected="a .tar.gz archive", found=f"{type(e).__name__}: {e}") from None
    if not (dest / "main.py").is_file():
        raise PackageError(str(tarball), expected="main.py at the archive's top level (Kaggle runs /kaggle_simulations/agent/main.py)",
                           found=f"entries {sorted(p.name for p in dest.iterdir())[:8]}", fix="rebuild it with medalist twentyq package")
    return dest


def _check(games: list[dict[str, Any]], stderr: str) -> None:
    from medalist.kaggle.package.runtime import PackageError

    for g in games:
        bad = [f"agent {i}: {s}" for i, s in enumerate(g["statuses"]) if s in _FAILED]
        if bad:
            tail = "\n".join((g["agent_stderr"] or stderr).strip().splitlines()[-6:])
            raise PackageError(f"agent main.py, game on '{g['keyword']}'", expected="the agent to answer every turn (status ACTIVE/DONE)",
                               found=f"{', '.join(bad)}\nagent stderr (tail):\n{tail}",
                               fix="the archive must carry everything main.py imports besides numpy and the standard library")


def verify_agent(tarball: Path, *, work: Path | None = None, games: int = 2, seed: int = 0) -> dict[str, Any]:
    """Unpack ``tarball`` like Kaggle, play ``games`` games of llm_20_questions with it in a clean offline venv.

    Raises PackageError when the archive has no ``main.py``, the games cannot run, or the agent fails a turn
    (its traceback's tail in the message). Returns ``{"games": [{keyword, category, statuses, reward, rounds,
    questions, answers, guesses, seconds, max_turn_seconds}], "solved", "timings": {"venv_s", "play_s"},
    "preinstalled", "work"}``. Writes only under ``work`` (new or empty, kept; default a temporary folder, removed).
    """
    from medalist.core.errors import ConfigError
    from medalist.kaggle.package.cleanenv import (
        clean_env,
        offline_environ,
        run_logged,
        stderr_tail,
        work_folder,
    )
    from medalist.kaggle.package.runtime import PackageError

    if games < 1:
        raise ConfigError("games", expected="a positive number of games", found=str(games))
    work, keep = work_folder(work, "medalist-agent-")
    try:
        agent_dir = _unpack(Path(tarball), work / "kaggle_simulations" / "agent")
        pre = env_distributions(work)
        t0 = time.perf_counter()
        py = clean_env(work / "env", preinstalled=pre)
        venv_s = time.perf_counter() - t0
        run_dir = work / "run"
        run_dir.mkdir()
        res, play_s = run_logged([str(py), "-c", _PLAY, str(agent_dir), str(games), str(seed)],
                                 env=offline_environ(work, py.parent.parent), cwd=run_dir, timeout=600 + 120 * games)
        if res.returncode != 0:
            raise PackageError(f"agent {tarball}", expected="the games to run", found=f"exit code {res.returncode}\n{stderr_tail(res.stderr, 8)}")
        played = json.loads(res.stdout.strip().splitlines()[-1])
        _check(played, res.stderr)
        return {"games": played, "solved": sum(1 for g in played if (g["reward"] or 0) > 0), "preinstalled": pre,
                "timings": {"venv_s": round(venv_s, 3), "play_s": round(play_s, 3)}, "work": str(work) if keep else None}
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
