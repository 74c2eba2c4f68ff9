"""Each security test leaves the trust list as it found it (opening a workspace sets it)."""

from __future__ import annotations

import pytest

from medalist.core.safety import current_trust, restore_trust, set_trust


@pytest.fixture(autouse=True)
def _restore_trust():
    previous = set_trust(current_trust())
    yield
    restore_trust(previous)
