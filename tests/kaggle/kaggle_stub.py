"""A local HTTP server that speaks the part of Kaggle's API medalist uses, as kagglesdk calls it.

kagglesdk POSTs JSON to ``{endpoint}/api/v1/{service}/{method}`` (endpoint http://localhost:7777
for ``KAGGLE_API_ENVIRONMENT=TEST``) with HTTP basic auth (username, key); errors are JSON bodies
``{"code": N, "message": ...}`` with that status. Submission uploads PUT to the ``createUrl`` it hands
out; competition downloads are a redirect to a zip. Notebooks: ``SaveKernel`` (``kaggle kernels push``) stores a
new version (Kaggle would run it); code submissions name a notebook and version, checked against the pushed
ones when ``check_kernels`` is set.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import zipfile
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PORT = 7777
SERVICE = "/api/v1/competitions.CompetitionApiService/"


class KaggleStub:
    def __init__(self, username: str, key: str) -> None:
        self.username, self.key = username, key
        self.competitions: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.submissions: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, json body)
        self.auth_headers: list[str] = []
        self.datasets: dict[str, dict[str, Any]] = {}  # "owner/slug" -> {"versions": [[file names]], "title": ...}
        self.kernels: dict[str, dict[str, Any]] = {}  # "owner/slug" -> {"versions": [SaveKernel request bodies]}
        self.check_kernels = False  # code submissions must name a pushed notebook version
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ setup
    def add_competition(self, slug: str, files: dict[str, bytes], *, finished: bool = False) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in files.items():
                z.writestr(name, data)
        self.competitions[slug] = {"zip": buf.getvalue(), "finished": finished}

    def score(self, ref: int, public: float | None, private: float | None = None, status: str = "COMPLETE") -> None:
        for s in self.submissions:
            if s["ref"] == ref:
                s.update(publicScore=None if public is None else f"{public:.5f}",
                         privateScore=None if private is None else f"{private:.5f}", status=status)

    def add_remote_submission(self, slug: str, description: str, public: float, private: float | None = None) -> int:
        ref = 1000 + len(self.submissions)
        self.submissions.append({"ref": ref, "competition": slug, "date": _now(), "description": description,
                                 "fileName": "other.csv", "publicScore": f"{public:.5f}",
                                 "privateScore": None if private is None else f"{private:.5f}", "status": "COMPLETE"})
        return ref

    # ------------------------------------------------------------------ server
    def __enter__(self) -> "KaggleStub":
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json", headers: dict | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, code: int, obj: Any) -> None:
                self._send(code, json.dumps(obj).encode())

            def _error(self, code: int, message: str) -> None:
                self._json(code, {"code": code, "message": message})

            def _authed(self) -> bool:
                h = self.headers.get("Authorization", "")
                stub.auth_headers.append(h)
                want = "Basic " + base64.b64encode(f"{stub.username}:{stub.key}".encode()).decode()
                return h == want

            def _other(self, route: str, body: dict) -> None:
                """Blob uploads and datasets (what `medalist package --push` uses)."""
                if route == "blobs.BlobApiService/StartBlobUpload":
                    token = f"blob{len(stub.uploads) + 1}"
                    stub.uploads[token] = {"fileName": body.get("name"), "kind": "blob"}
                    return self._json(200, {"token": token, "createUrl": f"http://localhost:{PORT}/upload/{token}"})
                if route == "kernels.KernelsApiService/SaveKernel":
                    return self._save_kernel(body)
                ref = f"{body.get('ownerSlug')}/{body.get('datasetSlug') or body.get('slug')}"
                if route == "datasets.DatasetApiService/GetDatasetStatus":
                    if ref not in stub.datasets:
                        return self._error(404, f"Dataset {ref} not found")
                    return self._json(200, {"status": "READY"})
                listed = body.get("files") or (body.get("body") or {}).get("files") or []
                files = sorted(stub.uploads.get(f.get("token"), {}).get("fileName") for f in listed)
                if any("data" not in stub.uploads.get(f.get("token"), {}) for f in listed):
                    return self._error(400, "a file was not uploaded")
                if route == "datasets.DatasetApiService/CreateDataset":
                    stub.datasets[ref] = {"title": body.get("title"), "license": body.get("licenseName"), "versions": [files]}
                    return self._json(200, {"ref": ref, "url": f"http://localhost:{PORT}/datasets/{ref}", "status": "ok"})
                if route == "datasets.DatasetApiService/CreateDatasetVersion":
                    if ref not in stub.datasets:
                        return self._error(404, f"Dataset {ref} not found")
                    stub.datasets[ref]["versions"].append(files)
                    return self._json(200, {"ref": ref, "url": f"http://localhost:{PORT}/datasets/{ref}", "status": "ok"})
                self._error(404, f"no method {route}")

            def _save_kernel(self, body: dict) -> None:
                slug = body.get("slug")
                if not slug or slug.count("/") != 1:
                    return self._error(400, "a kernel slug OWNER/SLUG is required")
                if slug.split("/")[0] != stub.username:
                    return self._error(403, f"cannot push kernels of {slug.split('/')[0]}")
                bad_ds = [d for d in body.get("datasetDataSources") or [] if d not in stub.datasets]
                bad_comp = [c for c in body.get("competitionDataSources") or [] if c not in stub.competitions]
                if bad_ds or bad_comp:
                    return self._json(200, {"ref": "", "url": "", "invalidDatasetSources": bad_ds, "invalidCompetitionSources": bad_comp})
                k = stub.kernels.setdefault(slug, {"versions": []})
                k["versions"].append(body)
                return self._json(200, {"ref": f"/code/{slug}", "url": f"http://localhost:{PORT}/code/{slug}",
                                        "versionNumber": len(k["versions"]), "kernelId": 1})

            def do_GET(self):
                if self.path.startswith("/files/"):
                    slug = self.path[len("/files/"):].removesuffix(".zip")
                    c = stub.competitions.get(slug)
                    if c is None:
                        return self._error(404, "not found")
                    return self._send(200, c["zip"], "application/zip")
                self._error(404, f"no route {self.path}")

            def do_PUT(self):
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n)
                token = self.path.rsplit("/", 1)[-1]
                if token not in stub.uploads:
                    return self._error(404, "unknown upload")
                stub.uploads[token]["data"] = data
                self._json(200, {})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                stub.requests.append(("POST", self.path, body))
                if not self.path.startswith("/api/v1/"):
                    return self._error(404, f"no route {self.path}")
                if not self._authed():
                    return self._error(401, "Unauthenticated")
                if not self.path.startswith(SERVICE):
                    return self._other(self.path[len("/api/v1/"):], body)
                method = self.path[len(SERVICE):]
                slug = body.get("competitionName")
                comp = stub.competitions.get(slug)
                if comp is None:
                    return self._error(404, f"Competition '{slug}' not found")
                if method == "DownloadDataFiles":
                    self.send_response(302)
                    self.send_header("Location", f"http://localhost:{PORT}/files/{slug}.zip")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if method == "StartSubmissionUpload":
                    if comp["finished"]:
                        return self._error(400, "Submission deadline has passed")
                    token = f"tok{len(stub.uploads) + 1}"
                    stub.uploads[token] = {"fileName": body.get("fileName"), "competition": slug}
                    return self._json(200, {"token": token, "createUrl": f"http://localhost:{PORT}/upload/{token}"})
                if method in ("CreateSubmission", "CreateCodeSubmission"):
                    if comp["finished"]:
                        return self._error(400, "Submission deadline has passed")
                    if method == "CreateSubmission":
                        up = stub.uploads.get(body.get("blobFileTokens"))
                        if up is None or "data" not in up:
                            return self._error(400, "upload missing")
                        fname = up["fileName"]
                    else:
                        fname = body.get("fileName") or "submission.csv"
                        kslug, kver = f"{body.get('kernelOwner')}/{body.get('kernelSlug')}", body.get("kernelVersion")
                        if stub.check_kernels and (kslug not in stub.kernels or not 1 <= int(kver or 0) <= len(stub.kernels[kslug]["versions"])):
                            return self._error(404, f"Notebook {kslug} version {kver} not found")
                    ref = 1000 + len(stub.submissions)
                    stub.submissions.append({"ref": ref, "competition": slug, "date": _now(), "fileName": fname,
                                             "description": body.get("submissionDescription", ""), "status": "PENDING",
                                             "kernel": f"{body.get('kernelOwner')}/{body.get('kernelSlug')}" if method == "CreateCodeSubmission" else None,
                                             "kernelVersion": body.get("kernelVersion")})
                    return self._json(200, {"message": "Successfully submitted", "ref": ref})
                if method == "ListSubmissions":
                    subs = [{k: v for k, v in s.items() if k not in ("competition", "kernel", "kernelVersion") and v is not None}
                            for s in stub.submissions if s["competition"] == slug]
                    return self._json(200, {"submissions": subs[::-1], "nextPageToken": ""})
                self._error(404, f"no method {method}")

        self._server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _now() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
