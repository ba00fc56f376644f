"""Export the best checkpoint to ONNX when training ends.

The LightningModule says what to export through ``exportable() -> (module,
output_names)`` when it has one (a detector's flat per-level maps, say); otherwise
its ``forward(images: (B, C, H, W))`` must return the logits tensor. The file gets
a dynamic batch axis and is checked against PyTorch with onnxruntime before
training returns (see ``export/onnx.py``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_info
from torch import nn

from ..export.onnx import check_onnx, export_onnx


class OnnxExport(Callback):
    """Write ``<dirpath>/<filename>`` from the best checkpoint at the end of ``fit``.

    The best checkpoint is ``trainer.checkpoint_callback.best_model_path``; without one
    the current weights are exported. The export works on a CPU copy of the module,
    so the trained module keeps its weights, device and train/eval modes.

    Args:
        image_size: Height and width of the export sample ``(1, in_chans, S, S)``.
        in_chans: Number of input channels.
        filename: Name of the ONNX file.
        dirpath: Output folder; defaults to ``trainer.log_dir``, else
            ``trainer.default_root_dir``.
    """

    def __init__(
        self,
        image_size: int,
        in_chans: int = 3,
        filename: str = "model.onnx",
        dirpath: str | None = None,
    ) -> None:
        self.image_size = image_size
        self.in_chans = in_chans
        self.filename = filename
        self.dirpath = dirpath
        self.path: Path | None = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # `trainer.log_dir` broadcasts, so every rank must ask for it.
        dirpath = self.dirpath or trainer.log_dir or trainer.default_root_dir
        if not trainer.is_global_zero:
            return
        model = copy.deepcopy(pl_module).cpu()
        checkpoint_callback = trainer.checkpoint_callback
        best = checkpoint_callback.best_model_path if checkpoint_callback else ""
        if best:
            # The checkpoint was written by this very run, so it is trusted.
            checkpoint = torch.load(best, map_location="cpu", weights_only=False)
            model.load_state_dict(checkpoint["state_dict"])
        module, names = exportable(model)
        sample = torch.randn(1, self.in_chans, self.image_size, self.image_size)
        self.path = export_onnx(module, sample, Path(dirpath) / self.filename, output_names=names)
        diff = check_onnx(self.path, module, sample)
        source = best or "the final weights"
        rank_zero_info(f"Exported {source} to {self.path} (max abs diff {diff:.2g} vs PyTorch)")


def exportable(module: pl.LightningModule) -> tuple[nn.Module, list[str]]:
    """The module to trace and its output names: ``module.exportable()`` if defined.

    Without that hook, the LightningModule itself, whose one output is ``logits``.
    """
    hook = getattr(module, "exportable", None)
    if hook is None:
        return module, ["logits"]
    traced, names = hook()
    return traced, list(names)
