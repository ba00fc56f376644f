"""An exported pyramid + FCOS head, decoded from onnxruntime's arrays, matches PyTorch."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import torch
from torch import Tensor, nn
from torch.export import Dim

from component_library.heads.fcos_head import FCOSHead
from component_library.heads.fcos_postprocess import fcos_postprocess
from component_library.necks.fpn_pyramid import FeaturePyramid


class TinyDetector(nn.Module):
    """Three strided convs as a backbone (strides 8, 16, 32), the neck and the head.

    ``forward`` returns the head's maps as one flat tuple, level by level per
    output kind, which is how an ONNX file names its outputs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            [nn.Conv2d(3, 8, 8, stride=8), nn.Conv2d(8, 16, 3, 2, 1), nn.Conv2d(16, 16, 3, 2, 1)]
        )
        self.neck = FeaturePyramid([8, 16, 16], [8, 16, 32], channels=32)
        self.head = FCOSHead(32, 3, self.neck.strides, num_convs=1)

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        features, x = [], images
        for stage in self.stages:
            x = torch.relu(stage(x))
            features.append(x)
        return tuple(level for kind in self.head(self.neck(features)) for level in kind)


def test_onnxruntime_outputs_decode_to_the_same_detections(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyDetector().eval()
    with torch.no_grad():  # confident enough that some points pass the score threshold
        model.head.cls_logits.bias.fill_(0.0)
    levels = len(model.neck.strides)
    names = [f"{kind}_{level}" for kind in ("cls_logits", "box_regression", "centerness")
             for level in range(levels)]  # fmt: skip
    path = tmp_path / "detector.onnx"
    torch.onnx.export(
        model,
        (torch.rand(2, 3, 96, 128),),
        path,
        input_names=["images"],
        output_names=names,
        dynamo=True,
        dynamic_shapes=({0: Dim("batch")},),
        external_data=False,
        verbose=False,
    )
    images = torch.rand(3, 3, 96, 128)  # another batch size than the export's
    outputs = ort.InferenceSession(str(path)).run(names, {"images": images.numpy()})
    with torch.no_grad():
        expected = model(images)
    grouped = [outputs[kind * levels : (kind + 1) * levels] for kind in range(3)]
    ours = fcos_postprocess(*grouped, model.neck.strides, image_size=(96, 128))
    grouped = [list(expected[kind * levels : (kind + 1) * levels]) for kind in range(3)]
    theirs = fcos_postprocess(*grouped, model.neck.strides, image_size=(96, 128))
    for mine, reference in zip(ours, theirs, strict=True):
        assert len(reference["scores"]) > 10
        assert mine["labels"].tolist() == reference["labels"].tolist()
        torch.testing.assert_close(mine["boxes"], reference["boxes"], atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(mine["scores"], reference["scores"], atol=1e-5, rtol=1e-4)
