"""`medalist ui` serves the workspace's MLflow store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("mlflow")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_serves_the_workspace_experiment(covid_ws):
    from medalist.core.config import TrackingConfig
    from medalist.cv.runner import train
    from medalist.tracking.mlflow import log_run

    covid_ws.config.tracking = TrackingConfig()
    covid_ws.save_config()
    run = train(covid_ws, covid_ws.root / "configs" / "fast.yaml", tracking=False)
    log_run(covid_ws, run)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "medalist.cli.app", "ui", "--port", str(port)], cwd=covid_ws.root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=10"
        deadline, body = time.time() + 90, None
        while time.time() < deadline and body is None:
            try:
                body = json.load(urllib.request.urlopen(url, timeout=2))
            except OSError:
                time.sleep(0.5)
        assert body is not None, "MLflow UI did not answer within 90 s"
        assert "covid" in [e["name"] for e in body["experiments"]]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
