"""ONNX export with a dynamic batch axis, checked against onnxruntime.

``export_onnx`` writes one self-contained ``.onnx`` file (weights inside) whose
input ``images: (B, C, H, W)`` and outputs have a dynamic batch axis: one
``logits`` output by default (``(B, K)`` for classification, ``(B, K, H, W)``
for segmentation), or several named ones for a model that returns a tuple of
tensors (e.g. a detector's per-level maps). ``check_onnx`` runs that file with
onnxruntime on a batch of another size and compares every output with PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort
import torch
from torch import Tensor, nn
from torch.export import Dim


class OnnxMismatchError(ValueError):
    """The ONNX model's output differs from the PyTorch model's."""


def export_onnx(
    model: nn.Module,
    sample: Tensor,
    path: str | Path,
    *,
    output_names: Sequence[str] = ("logits",),
    opset: int | None = None,
) -> Path:
    """Export ``model`` to a single ONNX file and return its path.

    Args:
        model: Maps ``images: (B, C, H, W)`` to one tensor, or to a tuple of tensors
            (one per name in ``output_names``), each with the batch first. Put in eval mode.
        sample: An example input ``(B, C, H, W)`` on the model's device; its channels
            and spatial size are fixed in the exported graph, its batch size is not.
        path: The ``.onnx`` file to write; missing parent folders are created.
        output_names: The name of each output, in the order the model returns them.
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
        output_names=list(output_names),
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
    magnitude up to about 90. A model that returns a tuple is compared output by
    output, in the file's output order.

    Raises:
        OnnxMismatchError: The number of outputs or their shapes differ, or an output
            is not close (``|onnx - torch| <= atol + rtol * |torch|``).
    """
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(
        (sample.shape[0] + 2, *sample.shape[1:]), generator=generator, dtype=sample.dtype
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    actual = session.run(names, {"images": batch.numpy()})
    model.eval()
    with torch.no_grad():
        expected = model(batch.to(sample.device))
    expected = [expected] if isinstance(expected, Tensor) else list(expected)
    if len(actual) != len(expected):
        raise OnnxMismatchError(
            f"{path}: ONNX has {len(actual)} outputs, PyTorch returns {len(expected)}"
        )
    diff = 0.0
    for name, onnx_output, torch_output in zip(names, actual, expected, strict=True):
        mine, reference = torch.from_numpy(onnx_output).float(), torch_output.float().cpu()
        if mine.shape != reference.shape:
            raise OnnxMismatchError(
                f"{path}: ONNX output {name} has shape {tuple(mine.shape)}, "
                f"PyTorch {tuple(reference.shape)}"
            )
        error = (mine - reference).abs().max().item() if mine.numel() else 0.0
        if not torch.allclose(mine, reference, atol=atol, rtol=rtol):
            raise OnnxMismatchError(
                f"{path}: ONNX output {name} differs from PyTorch by up to {error:.3g} "
                f"(atol={atol}, rtol={rtol})"
            )
        diff = max(diff, error)
    return diff
