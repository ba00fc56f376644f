"""Sweep of timm's registry: each drawn model builds and trains through every okgen path.

Opt-in (``slow``)::

    pytest -m slow tests/sweep --sweep-n 30 --sweep-seed 0 --sweep-max-params 30e6

Options and the failure table are in ``conftest.py``; the checks in ``timm_check.py``.
"""

from __future__ import annotations

import signal
import time

import pytest
import torch

from .conftest import option, record
from .timm_check import ContractBroken, check_model


class _Timeout(BaseException):
    """Past the time limit (a BaseException, so that no `except Exception` swallows it)."""


def _alarm(_signum, _frame):
    raise _Timeout


@pytest.mark.slow
def test_model_passes_every_contract(sweep_model: str, request: pytest.FixtureRequest) -> None:
    config = request.config
    torch.manual_seed(0)
    start = time.monotonic()
    outcome = {"model": sweep_model, "size": None, "contract": None, "error": None}
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(option(config, "--sweep-timeout"))
    try:
        outcome["size"] = check_model(sweep_model, option(config, "--sweep-size"))
    except ContractBroken as broken:
        outcome.update(size=broken.size, contract=broken.contract, error=broken.error)
    except _Timeout:
        outcome.update(contract="time limit", error=f"over {option(config, '--sweep-timeout')} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        outcome["seconds"] = round(time.monotonic() - start, 1)
        record(config, outcome)
    if outcome["contract"]:
        pytest.fail(f"{sweep_model}: {outcome['contract']}: {outcome['error']}", pytrace=False)
