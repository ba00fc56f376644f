"""Progress for the long steps that have no bar of their own: ``sample-data`` and ``export``.

``train``, ``validate``, ``test`` and ``predict`` show Lightning's bar.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

POLL_SECONDS = 0.25


def count_files(folder: Path) -> int:
    """Files under ``folder``, at any depth (0 while it does not exist)."""
    return sum(len(files) for _, _, files in os.walk(folder))


@contextmanager
def files_written(folder: Path, description: str) -> Iterator[None]:
    """A live count of the files the block writes under ``folder``, on a terminal.

    The writers (the dataset formats' ``write_sample``) report nothing themselves, so
    the bar counts the files that appear. Off when output is not a terminal.
    """
    bar = tqdm(desc=description, unit=" files", disable=None)  # None: off without a TTY
    if bar.disable:  # nothing to show: no counting either
        yield
        return
    before = count_files(folder)
    done = threading.Event()

    def poll() -> None:
        while not done.wait(POLL_SECONDS):
            bar.update(count_files(folder) - before - bar.n)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        bar.update(count_files(folder) - before - bar.n)
        bar.close()


@contextmanager
def step(description: str) -> Iterator[None]:
    """Announce a step that runs without output (an export), then how long it took."""
    print(f"{description} ...", flush=True)
    start = time.perf_counter()
    yield
    print(f"{description}: done in {time.perf_counter() - start:.1f} s", flush=True)
