"""Quiet output: the messages libraries print that a user of this project cannot act on.

Each is dropped by its exact text and its source (a logger, or the module a warning
comes from), never by silencing a library as a whole, so a new warning still shows.
The command line's ``--verbose`` flag installs none of these filters.
"""

from __future__ import annotations

import logging
import warnings

LOG_NOISE: dict[str, tuple[str, ...]] = {
    "lightning.fabric.utilities.seed": ("Seed set to ",),
    "lightning.pytorch.utilities.rank_zero": (
        "GPU available: ",
        "TPU available: ",
        "💡 Tip: ",  # an advertisement for a cloud logger
        "Loading `train_dataloader` to estimate number of stepping batches.",
        "`Trainer.fit` stopped: ",
        # trainer.limit_*_batches: 1.0 (every batch, the default) is announced when passed.
        "`Trainer(limit_train_batches=1.0)` was configured so 100% ",
        "`Trainer(limit_val_batches=1.0)` was configured so 100% ",
    ),
}
"""Logger name -> how the INFO messages it drops begin."""

WARNING_NOISE: tuple[tuple[str, str], ...] = (
    # Lightning 2.6 calls an API torch 2.14 deprecated; nothing in this project uses it.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"lightning\.pytorch\.utilities\._pytree"),
)
"""``(message regex, module regex)`` of the warnings it drops."""

SANITY_CHECK_NOISE: tuple[str, str] = (r"No positive samples in targets", r"torchmetrics\.")
"""The warning of a class without images, dropped only in Lightning's sanity check: its
couple of batches (of a split sorted by class) miss classes, and its numbers are discarded."""


class DropMessages(logging.Filter):
    """A logging filter that drops the records whose message begins with one of ``starts``."""

    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.starts)


def quiet() -> None:
    """Drop the messages of ``LOG_NOISE`` and ``WARNING_NOISE`` from now on."""
    for name, starts in LOG_NOISE.items():
        logging.getLogger(name).addFilter(DropMessages(starts))
    for message, module in WARNING_NOISE:
        warnings.filterwarnings("ignore", message=message, module=module)
