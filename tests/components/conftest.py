"""Component-test options: the opt-in ``slow`` marker (deselect with ``-m "not slow"``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: trains a network for a minute or more on CPU")
