"""Pushing a dataset: only HTTP 404 means "does not exist yet"; other failures are reported as themselves."""

from __future__ import annotations

import json

import pytest
import requests

from medalist.kaggle.api import KaggleError, push_dataset


class FakeApi:
    def __init__(self, status_error=None):
        self.status_error, self.calls = status_error, []

    def dataset_status(self, ref):
        self.calls.append("status")
        if self.status_error:
            raise self.status_error

    def dataset_create_new(self, folder, **kw):
        self.calls.append("create")
        return type("R", (), {"error": None, "url": "u"})()

    def dataset_create_version(self, folder, message, **kw):
        self.calls.append("version")
        return type("R", (), {"error": None, "url": "u"})()


def _http(code):
    resp = requests.Response()
    resp.status_code = code
    return requests.exceptions.HTTPError(f"{code} error", response=resp)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "dataset-metadata.json").write_text(json.dumps({"id": "me/wheels", "title": "wheels"}))
    return tmp_path


def test_404_creates_existing_versions(folder):
    api = FakeApi(_http(404))
    assert push_dataset(folder, api=api)["version"] == "new" and api.calls == ["status", "create"]
    api = FakeApi()
    assert push_dataset(folder, api=api)["version"] == "update" and api.calls == ["status", "version"]


@pytest.mark.parametrize("error,match", [
    (_http(500), "HTTP|HTTPError"),
    (_http(403), "refused \\(HTTP 403"),
    (requests.exceptions.ConnectionError("down"), "no connection"),
])
def test_other_failures_are_errors_not_a_new_dataset(folder, error, match):
    api = FakeApi(error)
    with pytest.raises(KaggleError, match=match):
        push_dataset(folder, api=api)
    assert api.calls == ["status"]


def test_a_bug_propagates(folder):
    api = FakeApi(AttributeError("'NoneType' object has no attribute 'ref'"))
    with pytest.raises(AttributeError):
        push_dataset(folder, api=api)
    assert api.calls == ["status"]
