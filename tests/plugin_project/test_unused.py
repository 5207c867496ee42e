"""Tests that do not ask for the plugin's fixtures see nothing of it."""

from __future__ import annotations

import asyncio


def test_sync() -> None:
    assert True


def test_no_loop_left() -> None:
    # No event loop was made current for a test that asked for none.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise AssertionError("a loop is running")
