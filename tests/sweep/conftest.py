"""Options and the failure table of the timm registry sweep (``pytest -m slow tests/sweep``).

``--sweep-n N`` models (0: all) are drawn with ``--sweep-seed`` from timm's registry
among those with at most ``--sweep-max-params`` parameters (counted on the meta
device, cached in pytest's cache), and checked at ``--sweep-size`` pixels or the
smallest size the model takes above it. ``--sweep-offset K`` leaves out the first K
drawn (chunked runs: ``--sweep-n 50 --sweep-offset 50``, ``100``, ...),
``--sweep-shard i/k`` runs every k-th model from the i-th (parallel runs),
``--sweep-timeout`` limits each model, and ``--sweep-report FILE`` appends one
JSON line per model. ``--sweep-models a,b`` checks those models instead of a draw.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import pytest
import timm
import torch

OUTCOMES = pytest.StashKey[list[dict]]()
# name: (type, default, help)
OPTIONS = {
    "--sweep-n": (int, 30, "models to draw; 0 = all"),
    "--sweep-seed": (int, 0, "seed of the draw"),
    "--sweep-offset": (int, 0, "leave out the first models drawn (for runs in chunks)"),
    "--sweep-max-params": (float, 30e6, "parameter budget"),
    "--sweep-size": (int, 64, "image size to try first"),
    "--sweep-shard": (str, "0/1", "i/k: every k-th model from the i-th"),
    "--sweep-timeout": (int, 300, "seconds per model"),
    "--sweep-report": (str, None, "append a JSON line per model to this file"),
    "--sweep-models": (str, None, "comma-separated model names to check instead of a draw"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    # pytest reads options only from the conftest files of the paths it is given at
    # start: `option` falls back to the defaults when the sweep is collected otherwise.
    group = parser.getgroup("timm sweep")
    for name, (kind, default, text) in OPTIONS.items():
        group.addoption(name, type=kind, default=default, help=text)


def option(config: pytest.Config, name: str):
    """The value of a sweep option, or its default when it was not registered."""
    return config.getoption(name, default=OPTIONS[name][1])


def param_count(config: pytest.Config, model_name: str) -> int:
    """Parameters of ``model_name``'s classification model, built on the meta device."""
    key = f"timm-sweep/params/{timm.__version__}/{model_name}"
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    count = cache.get(key, None) if cache else None
    if count is None:
        try:
            with torch.device("meta"):
                model = timm.create_model(model_name, pretrained=False)
            count = sum(p.numel() for p in model.parameters())
        except Exception:  # not buildable on meta: build it for real
            model = timm.create_model(model_name, pretrained=False)
            count = sum(p.numel() for p in model.parameters())
        if cache:
            cache.set(key, count)
    return count


def sweep_models(config: pytest.Config) -> list[str]:
    """The drawn (or named) models, in draw order, restricted to this shard."""
    index, count = (int(part) for part in option(config, "--sweep-shard").split("/"))
    if named := option(config, "--sweep-models"):
        return named.split(",")[index::count]
    names = timm.list_models()
    random.Random(option(config, "--sweep-seed")).shuffle(names)
    offset = option(config, "--sweep-offset")
    wanted = offset + (option(config, "--sweep-n") or len(names))
    budget = option(config, "--sweep-max-params")
    drawn = []
    for name in names:
        if len(drawn) == wanted:
            break
        if param_count(config, name) <= budget:
            drawn.append(name)
    return drawn[offset:][index::count]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sweep_model" in metafunc.fixturenames:
        config = metafunc.config
        # Drawing counts parameters of many models: only when `-m slow` selects the sweep.
        expression = config.getoption("markexpr") or ""
        selected = "slow" in expression and "not slow" not in expression
        models = sweep_models(config) if selected else []
        metafunc.parametrize("sweep_model", models)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[OUTCOMES] = []


def record(config: pytest.Config, outcome: dict) -> None:
    """Keep one model's outcome for the table (and the JSON report, if asked)."""
    config.stash[OUTCOMES].append(outcome)
    report = option(config, "--sweep-report")
    if report:
        with Path(report).open("a") as file:
            file.write(json.dumps(outcome) + "\n")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    outcomes = config.stash[OUTCOMES]
    if not outcomes:
        return
    failed = [o for o in outcomes if o["contract"]]
    write = terminalreporter.write_line
    write(f"timm {timm.__version__} sweep: {len(outcomes) - len(failed)} of {len(outcomes)} pass")
    if not failed:
        return
    by_contract = defaultdict(list)
    for outcome in failed:
        by_contract[outcome["contract"]].append(outcome)
    write("| model | size | contract | exception |")
    write("|---|---|---|---|")
    for contract in sorted(by_contract, key=lambda c: -len(by_contract[c])):
        for o in sorted(by_contract[contract], key=lambda o: o["model"]):
            write(f"| {o['model']} | {o['size']} | {contract} | {o['error']} |")
