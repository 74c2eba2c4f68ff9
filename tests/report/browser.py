"""Headless Chromium for the report test: Debian's chromium + chromedriver through selenium.

CI installs them with ``apt-get install -y chromium chromium-driver`` and ``pip install selenium``.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def find() -> tuple[str, str] | None:
    b = next((p for p in CHROMIUM if Path(p).is_file()), shutil.which("chromium"))
    d = next((p for p in DRIVER if Path(p).is_file()), shutil.which("chromedriver"))
    return (b, d) if b and d else None


@contextmanager
def chromium():
    """A selenium driver on a fresh headless Chromium profile, offline-friendly flags."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = find()
    with tempfile.TemporaryDirectory(prefix="medalist-chromium-") as profile:
        opts = webdriver.ChromeOptions()
        opts.binary_location = browser
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions",
                  "--window-size=1280,2000", f"--user-data-dir={profile}"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        drv = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
        try:
            yield drv
        finally:
            drv.quit()
