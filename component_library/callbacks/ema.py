"""Exponential moving average (EMA) of the weights, used for validation and checkpoints.

Built on Lightning's ``WeightAveraging`` callback and ``torch.optim.swa_utils``:
after every optimizer step ``ema = decay * ema + (1 - decay) * weights`` for all
parameters and buffers (the first update copies the weights). The EMA
weights are swapped in for every validation epoch and written to the checkpoint's
``state_dict`` (the raw training weights go to ``current_model_state``, from which
a resumed run continues). When training ends the module keeps the EMA weights, so
testing, prediction and export after ``fit`` use them too.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import WeightAveraging
from torch.optim.swa_utils import get_ema_multi_avg_fn


class EMADecayError(ValueError):
    """The EMA decay is outside (0, 1)."""


class EMA(WeightAveraging):
    """Keep an exponential moving average of the LightningModule's weights.

    Args:
        decay: Weight of the running average at each step, in (0, 1); about
            ``1 / (1 - decay)`` recent steps dominate the average.
    """

    def __init__(self, decay: float = 0.999) -> None:
        if not 0.0 < decay < 1.0:
            raise EMADecayError(f"EMA decay must be in (0, 1), got {decay}")
        super().__init__(use_buffers=True, multi_avg_fn=get_ema_multi_avg_fn(decay))
        self.decay = decay
