"""Fixtures for the monitor's tests (helpers in monitor_helpers.py)."""

from __future__ import annotations

import pytest

from monitor_helpers import FakeClock, FakeProc


@pytest.fixture
def fake_proc(tmp_path):
    return FakeProc(tmp_path)


@pytest.fixture
def clock():
    return FakeClock()
