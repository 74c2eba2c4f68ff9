"""Kaggle through the official ``kaggle`` package (its ``KaggleApi``), with medalist's errors.

Credentials come from the usual places, in kaggle's own order: an access token
(``KAGGLE_API_TOKEN`` or ``~/.kaggle/access_token``), ``KAGGLE_USERNAME`` + ``KAGGLE_KEY``,
``kaggle.json`` in ``KAGGLE_CONFIG_DIR`` / ``~/.kaggle`` / ``~/.config/kaggle``, or cached OAuth
credentials from ``kaggle auth login``. medalist never stores, logs or copies the key.

Endpoint: the client's ``kagglesdk`` knows ``KAGGLE_API_ENVIRONMENT`` (``TEST`` ->
http://localhost:7777, ``LOCALHOST`` -> http://localhost), but kaggle 2.2.x's ``KaggleApi`` only
passes ``LOCALHOST`` on and pins every other value to production. :class:`MedalistKaggleApi` hands
the variable to ``kagglesdk`` unchanged, so ``TEST`` reaches a local server (medalist's tests use a
stub there); unset or ``PROD`` is the real Kaggle.

The workspace remembers its Kaggle competition in ``kaggle.yaml`` (slug, code competition or not).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from medalist.core.errors import (
    ConfigError,
    MedalistError,
    SubmissionError,
)
from medalist.core.optional import available, require

__all__ = [
    "KaggleError", "KaggleAuthError", "get_api", "credential_places", "download_competition",
    "upload_submission", "list_submissions", "push_dataset", "push_kernel", "kaggle_settings", "save_kaggle_settings",
]

KAGGLE_FILE = "kaggle.yaml"
SECRET_ENV = ("KAGGLE_KEY", "KAGGLE_API_TOKEN")


class KaggleError(MedalistError):
    """Kaggle refused or failed a request."""


class KaggleAuthError(KaggleError):
    """No usable Kaggle credentials."""


def credential_places() -> list[str]:
    """Where the kaggle client looks for credentials, in its order (for error messages)."""
    cfg = os.environ.get("KAGGLE_CONFIG_DIR")
    dirs = [cfg] if cfg else ["~/.kaggle", "~/.config/kaggle (XDG_CONFIG_HOME)"]
    return [
        "KAGGLE_API_TOKEN (environment)",
        "~/.kaggle/access_token",
        "KAGGLE_USERNAME + KAGGLE_KEY (environment)",
        *[f"{d}/kaggle.json" for d in dirs],
        "~/.kaggle/credentials.json (OAuth, `kaggle auth login`)",
    ]


def _auth_error(found: str) -> KaggleAuthError:
    return KaggleAuthError(
        "Kaggle credentials", expected="an API token or username + key in one of: " + "; ".join(credential_places()),
        found=found, fix="create a token at https://www.kaggle.com/settings (API) and save it as ~/.kaggle/kaggle.json "
        "(chmod 600), or export KAGGLE_USERNAME and KAGGLE_KEY",
    )


def _import_kaggle():
    """Import ``KaggleApi`` without letting ``kaggle/__init__`` print its auth help to our stdout."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        api = require("kaggle.api.kaggle_api_extended", extra="kaggle", purpose="talking to Kaggle")
    return api.KaggleApi


def _api_class():
    KaggleApi = _import_kaggle()

    class MedalistKaggleApi(KaggleApi):
        """``KaggleApi`` whose HTTP client honours ``KAGGLE_API_ENVIRONMENT`` as ``kagglesdk`` defines it."""

        def build_kaggle_client(self):
            from kagglesdk import KaggleClient
            from kagglesdk.kaggle_env import get_env

            if os.environ.get("KAGGLE_API_ENVIRONMENT") in (None, "", "PROD"):
                return super().build_kaggle_client()
            return KaggleClient(
                env=get_env(), verbose=False, username=self.config_values.get(self.CONFIG_NAME_USER),
                password=self.config_values.get(self.CONFIG_NAME_KEY), api_token=self.config_values.get(self.CONFIG_NAME_TOKEN),
                response_processor=self.get_response_processor(),
            )

    return MedalistKaggleApi


def get_api():
    """An authenticated ``KaggleApi``; :class:`KaggleAuthError` naming every place credentials are looked for."""
    cls = _api_class()
    api = cls()
    cfg = os.environ.get("KAGGLE_CONFIG_DIR")
    if cfg:  # kaggle reads it once at import; honour the value of this call
        api.config_dir = cfg
        api.config = os.path.join(cfg, api.config_file)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            api.authenticate()
    except SystemExit:
        raise _auth_error("none of them") from None
    except Exception as e:  # a malformed kaggle.json, an unreachable token endpoint
        raise _auth_error(f"unusable credentials ({type(e).__name__})") from None
    return api


def _http_error(e: Exception, where: str, competition: str | None = None) -> MedalistError:
    """Turn a requests HTTPError from the client into a medalist error (never echoing headers)."""
    resp = getattr(e, "response", None)
    code = getattr(resp, "status_code", None)
    msg = str(e.args[0]) if e.args else type(e).__name__
    msg = re.sub(r"https?://\S+", "<url>", msg)[:300]
    if code == 401:
        return _auth_error("credentials the server rejected (HTTP 401)")
    cls = SubmissionError if where.startswith("submit") else KaggleError
    if code == 404:
        return cls(where, expected=f"a Kaggle competition you joined{f' named {competition!r}' if competition else ''}",
                   found=f"not found (HTTP 404: {msg})", fix="check the slug in the competition URL (kaggle.com/competitions/SLUG) and accept its rules")
    if code in (400, 403, 409):
        return cls(where, expected="a request Kaggle accepts", found=f"refused (HTTP {code}: {msg})",
                   fix="check that the competition is still open for submissions and that you accepted its rules")
    return cls(where, expected="an answer from Kaggle", found=f"{type(e).__name__}: {msg}", fix="retry later")


@contextlib.contextmanager
def _calls(where: str, competition: str | None = None):
    # kaggle depends on requests, so it is there whenever a call can be made at all.
    requests = require("requests", extra="kaggle") if available("requests") else None
    try:
        yield
    except MedalistError:
        raise
    except SystemExit:
        raise _auth_error("none of them") from None
    except Exception as e:
        if requests is not None and isinstance(e, requests.exceptions.HTTPError):
            raise _http_error(e, where, competition) from None
        if requests is not None and isinstance(e, requests.exceptions.ConnectionError):
            raise KaggleError(where, expected="a reachable Kaggle API", found="no connection", fix="check the network (or KAGGLE_API_ENVIRONMENT)") from None
        if isinstance(e, ValueError):
            raise KaggleError(where, expected="valid arguments", found=str(e)) from None
        raise


# ----------------------------------------------------------------------------- settings
@dataclass
class KaggleSettings:
    competition: str
    code: bool = False


def kaggle_settings(ws) -> KaggleSettings | None:
    p = ws.root / KAGGLE_FILE
    if not p.is_file():
        return None
    d = yaml.safe_load(p.read_text()) or {}
    if not d.get("competition"):
        raise ConfigError(f"{p}: competition", expected="the Kaggle competition slug", found="nothing")
    return KaggleSettings(str(d["competition"]), bool(d.get("code", False)))


def save_kaggle_settings(root: Path, s: KaggleSettings) -> None:
    from medalist.core.io import atomic_write_text

    atomic_write_text(Path(root) / KAGGLE_FILE, yaml.safe_dump({"competition": s.competition, "code": s.code}, sort_keys=False))


# ----------------------------------------------------------------------------- calls
def _safe_extract_zip(zpath: Path, dest: Path) -> list[Path]:
    out = []
    dest = dest.resolve()
    with zipfile.ZipFile(zpath) as z:
        for info in z.infolist():
            name = info.filename
            target = (dest / name).resolve()
            if name.startswith("/") or ".." in Path(name).parts or not str(target).startswith(str(dest)):
                raise KaggleError(f"{zpath.name}: entry {name!r}", expected="paths inside the archive's folder", found="a path outside it")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append(target)
    return out


def download_competition(competition: str, dest: Path, *, api=None) -> list[Path]:
    """Download and unzip a competition's files into ``dest``; return the extracted files."""
    api = api or get_api()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.zip"))
    with _calls(f"download of competition '{competition}'", competition):
        with contextlib.redirect_stdout(io.StringIO()):
            api.competition_download_files(competition, path=str(dest), force=True, quiet=True)
    zips = sorted(set(dest.glob("*.zip")) - before) or sorted(dest.glob(f"{competition}*.zip"))
    files: list[Path] = []
    for z in zips:
        files += _safe_extract_zip(z, dest)
        z.unlink()
    if not files:
        files = [p for p in dest.iterdir() if p.is_file()]
    return files


def upload_submission(competition: str, file: Path | None, description: str, *, kernel: str | None = None,
                      version: int | None = None, api=None) -> dict[str, Any]:
    """Submit a file (or, for code competitions, the ``submission.csv`` a notebook version wrote); return Kaggle's
    ref and message."""
    api = api or get_api()
    where = f"submit to '{competition}'"
    if (kernel is None) != (version is None):
        raise SubmissionError("--kernel/--version", expected="both (code competitions) or neither", found="only one")
    with _calls(where, competition), contextlib.redirect_stdout(io.StringIO()):
        if kernel:
            if kernel.count("/") != 1:
                raise SubmissionError("--kernel", expected="OWNER/NOTEBOOK", found=repr(kernel))
            # file_name is the file the notebook writes (medalist's notebook: /kaggle/working/submission.csv)
            resp = api.competition_submit_code(file_name="submission.csv", message=description,
                                               competition=competition, kernel=kernel, kernel_version=version, quiet=True)
        else:
            resp = api.competition_submit(str(file), description, competition, quiet=True)
    msg = getattr(resp, "message", "") or ""
    ref = getattr(resp, "ref", 0) or None
    if msg == getattr(api, "COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE", object()):
        raise SubmissionError(where, expected="the file uploaded", found="the upload failed", fix="retry")
    return {"ref": ref, "message": msg}


def list_submissions(competition: str, *, api=None, page_size: int = 100) -> list[dict[str, Any]]:
    """Every submission of the competition (all pages): ref, date, description, file, scores, status."""
    api = api or get_api()
    out: list[dict[str, Any]] = []
    token = ""
    with _calls(f"submissions of '{competition}'", competition):
        with api.build_kaggle_client() as kaggle:
            from kagglesdk.competitions.types.competition_api_service import (
                ApiListSubmissionsRequest,
            )

            for _ in range(100):
                req = ApiListSubmissionsRequest()
                req.competition_name = competition
                req.page_size = page_size
                if token:
                    req.page_token = token
                resp = kaggle.competitions.competition_api_client.list_submissions(req)
                for s in resp.submissions or []:
                    out.append(_submission_dict(s))
                token = resp.next_page_token
                if not token:
                    break
    return out


def _score(v: Any) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _submission_dict(s) -> dict[str, Any]:
    status = getattr(s, "status", None)
    return {
        "ref": int(s.ref) if s.ref else None,
        "date": s.date.isoformat(timespec="seconds") if getattr(s, "date", None) else None,
        "description": s.description or "",
        "file_name": s.file_name or "",
        "public": _score(s.public_score),
        "private": _score(s.private_score),
        "status": getattr(status, "name", str(status or "")).lower(),
        "error": s.error_description or "",
    }


def push_dataset(folder: Path, *, message: str = "medalist package", api=None) -> dict[str, Any]:
    """Create the Kaggle dataset described by ``folder/dataset-metadata.json``, or a new version of it."""
    api = api or get_api()
    folder = Path(folder)
    with _calls(f"dataset push of {folder}"), contextlib.redirect_stdout(io.StringIO()):
        import json

        meta = json.loads((folder / "dataset-metadata.json").read_text())
        ref = meta["id"]
        exists = _dataset_exists(api, ref)
        if exists:
            resp = api.dataset_create_version(str(folder), message, quiet=True, dir_mode="zip")
        else:
            resp = api.dataset_create_new(str(folder), quiet=True, dir_mode="zip")
    err = getattr(resp, "error", None)
    if err:
        raise KaggleError(f"dataset {ref}", expected="created or versioned", found=str(err))
    return {"dataset": ref, "version": "new" if not exists else "update", "url": getattr(resp, "url", None)}


def _dataset_exists(api, ref: str) -> bool:
    """Whether Kaggle has dataset ``ref``: only an HTTP 404 means "no"; any other failure (auth, network, a bug)
    propagates, to be reported as what it is (not answered by creating a second dataset)."""
    try:
        api.dataset_status(ref)
    except Exception as e:
        if getattr(getattr(e, "response", None), "status_code", None) == 404:
            return False
        raise
    return True


def _kernel_folder(folder: Path) -> Path:
    """The folder holding ``kernel-metadata.json``: ``folder`` itself or a package folder's ``kernel/``."""
    folder = Path(folder)
    if not (folder / "kernel-metadata.json").is_file() and (folder / "kernel" / "kernel-metadata.json").is_file():
        return folder / "kernel"
    if not (folder / "kernel-metadata.json").is_file():
        raise KaggleError(str(folder / "kernel-metadata.json"), expected="the notebook's metadata (written by medalist's write_kernel)",
                          found="no such file", fix="write the notebook first (medalist package ... --kernel)")
    return folder


def push_kernel(folder: Path, *, api=None) -> dict[str, Any]:
    """Push the notebook described by ``folder/kernel-metadata.json`` (or a package folder's ``kernel/``) as a new
    version, which Kaggle then runs; ``{"kernel": OWNER/SLUG, "version": N, "url": ...}``.

    Inputs Kaggle does not know (the package dataset not pushed yet, a competition whose rules were not
    accepted) are a :class:`KaggleError` naming them. Submit the version once its run has finished.
    """
    import json

    folder = _kernel_folder(folder)
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    where = f"notebook push of {meta.get('id') or folder}"
    api = api or get_api()
    with _calls(where), contextlib.redirect_stdout(io.StringIO()):
        resp = api.kernels_push(str(folder))
    bad = {k: list(getattr(resp, f"invalid_{k}", None) or []) for k in
           ("dataset_sources", "competition_sources", "kernel_sources", "model_sources", "tags")}
    bad = {k: v for k, v in bad.items() if v}
    err = getattr(resp, "error", None)
    if err or bad:
        found = err or "; ".join(f"unknown {k.replace('_', ' ')}: {', '.join(map(str, v))}" for k, v in bad.items())
        raise KaggleError(where, expected="the notebook saved with inputs Kaggle knows", found=str(found),
                          fix="push the package dataset first (medalist package --push), accept the competition's rules, "
                              "and check kernel-metadata.json")
    ref = (getattr(resp, "ref", "") or "").strip("/")  # "owner/slug", "/code/owner/slug" or a URL
    ref = ref.split("code/")[-1] if "code/" in ref else ref
    ref = ref if ref.count("/") == 1 else meta.get("id")
    return {"kernel": ref, "version": getattr(resp, "version_number", None), "url": getattr(resp, "url", None) or None}


# ----------------------------------------------------------------------------- init --from-kaggle
def _find(files: list[Path], stems: tuple[str, ...], what: str, competition: str) -> Path:
    tables = [f for f in files if f.suffix.lower() in (".csv", ".parquet")]
    for stem in stems:
        exact = [f for f in tables if f.stem.lower() == stem]
        if exact:
            return sorted(exact, key=lambda p: len(p.parts))[0]
    for stem in stems:
        loose = [f for f in tables if f.stem.lower().startswith(stem)]
        if loose:
            return sorted(loose, key=lambda p: (len(p.parts), p.name))[0]
    raise KaggleError(f"files of competition '{competition}'", expected=f"a {what} table ({'/'.join(stems)}.csv)",
                      found=", ".join(sorted(f.name for f in tables)) or "no CSV/Parquet files",
                      fix="init with --train/--test/--sample-submission from the downloaded files")


def init_from_kaggle(root: Path, competition: str, *, target: str | list[str] | None = None, id: str | None = None,
                     task: str | None = None, metric: str | None = None, group: str | None = None, time: str | None = None,
                     force: bool = False, api=None):
    """Download a competition into ``root/data``, detect id and target from sample_submission, make the workspace."""
    from medalist.workspace.competition import _check_new_dir, init_workspace
    from medalist.workspace.data import read_table

    root = Path(root)
    _check_new_dir(root, force)
    files = download_competition(competition, root / "data", api=api)
    ss_path = _find(files, ("sample_submission", "samplesubmission", "sample"), "sample submission", competition)
    train = _find([f for f in files if f != ss_path], ("train",), "train", competition)
    test = _find([f for f in files if f not in (ss_path, train)], ("test",), "test", competition)
    ss = read_table(ss_path, what="sample submission")
    tr_cols = read_table(train, what="train").columns
    id = id or ss.columns[0]
    if target is None:
        target = [c for c in ss.columns if c != id and c in tr_cols]
        if not target:  # one probability column per class named after the target: Status_C, Status_CL -> Status
            from medalist.workspace.formats import target_from_prefix

            target = [t] if (t := target_from_prefix([c for c in ss.columns if c != id], tr_cols)) else []
        if not target:
            raise KaggleError(f"{ss_path.name}", expected="prediction columns that are train columns (the target)",
                              found=f"{[c for c in ss.columns if c != id]} (not in {train.name})", fix="pass --target COLUMN")
        target = target[0] if len(target) == 1 else target
    ws = init_workspace(root, train=train, test=test, sample_submission=ss_path, target=target, id=id, task=task,
                        metric=metric, group=group, time=time, name=competition, force=force)
    save_kaggle_settings(ws.root, KaggleSettings(competition))
    return ws
