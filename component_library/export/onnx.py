"""ONNX export with a dynamic batch axis, checked against onnxruntime.

``export_onnx`` writes one self-contained ``.onnx`` file (weights inside) whose
input ``images: (B, C, H, W)`` and output ``logits`` (``(B, K)`` for
classification, ``(B, K, H, W)`` for segmentation) have a dynamic batch axis.
``check_onnx`` runs that file with onnxruntime on a batch of another size and
compares it with PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import torch
from torch import Tensor, nn
from torch.export import Dim


class OnnxMismatchError(ValueError):
    """The ONNX model's output differs from the PyTorch model's."""


def export_onnx(
    model: nn.Module, sample: Tensor, path: str | Path, *, opset: int | None = None
) -> Path:
    """Export ``model`` to a single ONNX file and return its path.

    Args:
        model: Maps ``images: (B, C, H, W)`` to one logits tensor. Put in eval mode.
        sample: An example input ``(B, C, H, W)`` on the model's device; its channels
            and spatial size are fixed in the exported graph, its batch size is not.
        path: The ``.onnx`` file to write; missing parent folders are created.
        opset: The ONNX opset, or ``None`` for the exporter's recommended one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    # torch.export specialises dimensions of size 1, which pins the batch axis of some
    # models (ConvNeXt); tracing with two images keeps it dynamic.
    if sample.shape[0] == 1:
        sample = torch.cat([sample, sample])
    # The dynamo exporter (torch.export), torch's default, handles the timm models okgen
    # offers. `dynamic_shapes` is a tuple rather than a dict because the name of the
    # forward argument differs from model to model.
    torch.onnx.export(
        model,
        (sample,),
        path,
        input_names=["images"],
        output_names=["logits"],
        opset_version=opset,
        dynamo=True,
        dynamic_shapes=({0: Dim("batch")},),
        external_data=False,
        verbose=False,
    )
    return path


def check_onnx(
    path: str | Path,
    model: nn.Module,
    sample: Tensor,
    *,
    atol: float = 1e-4,
    rtol: float = 1e-5,
) -> float:
    """Compare the ONNX file at ``path`` with ``model`` and return the max abs difference.

    Both run on the same random batch of ``sample.shape[0] + 2`` images, so the
    dynamic batch axis is exercised; onnxruntime runs on the CPU and ``model`` (put
    in eval mode) on ``sample``'s device. onnxruntime matches float32 PyTorch on the
    CPU to about 1e-6, so the defaults refuse a difference of 1e-3 in logits of
    magnitude up to about 90.

    Raises:
        OnnxMismatchError: The output shapes differ, or the outputs are not close
            (``|onnx - torch| <= atol + rtol * |torch|``).
    """
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(
        (sample.shape[0] + 2, *sample.shape[1:]), generator=generator, dtype=sample.dtype
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(["logits"], {"images": batch.numpy()})
    actual = torch.from_numpy(actual).float()
    model.eval()
    with torch.no_grad():
        expected = model(batch.to(sample.device)).float().cpu()
    if actual.shape != expected.shape:
        raise OnnxMismatchError(
            f"{path}: ONNX output shape {tuple(actual.shape)} != PyTorch {tuple(expected.shape)}"
        )
    diff = (actual - expected).abs().max().item()
    if not torch.allclose(actual, expected, atol=atol, rtol=rtol):
        raise OnnxMismatchError(
            f"{path}: ONNX output differs from PyTorch by up to {diff:.3g} "
            f"(atol={atol}, rtol={rtol})"
        )
    return diff
