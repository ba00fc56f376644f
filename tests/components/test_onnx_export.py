"""ONNX export: dynamic batch axis, agreement with PyTorch, and the OnnxExport callback."""

from __future__ import annotations

import lightning.pytorch as pl
import onnx
import onnxruntime as ort
import pytest
import timm
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from component_library.callbacks.onnx_export import OnnxExport
from component_library.export.onnx import OnnxMismatchError, check_onnx, export_onnx


class TinyResNet(nn.Module):
    """conv-bn-relu stem, one residual block, then logits ``(B, K)`` or ``(B, K, H, W)``."""

    def __init__(self, num_classes: int = 3, dense: bool = False) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1), nn.BatchNorm2d(8))
        self.dense = dense
        self.classifier = nn.Conv2d(8, num_classes, 1) if dense else nn.Linear(8, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        x = F.relu(x + self.block(x))
        if self.dense:
            return F.interpolate(self.classifier(x), size=images.shape[-2:], mode="bilinear")
        return self.classifier(x.mean((2, 3)))


def randomize_bn(model: nn.Module) -> nn.Module:
    """Give BatchNorm layers non-trivial running statistics, so eval mode matters."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


MODELS = {
    "tiny_classifier": lambda: TinyResNet(),
    "tiny_segmenter": lambda: TinyResNet(dense=True),
    "timm_resnet18": lambda: timm.create_model("resnet18", pretrained=False, num_classes=5),
}


@pytest.mark.parametrize("name", MODELS)
def test_export_has_dynamic_batch_and_matches_torch(name, tmp_path):
    torch.manual_seed(0)
    model = randomize_bn(MODELS[name]()).train()
    sample = torch.randn(1, 3, 64, 64)

    path = export_onnx(model, sample, tmp_path / "out" / "model.onnx")

    assert path == tmp_path / "out" / "model.onnx"
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # no .data file
    assert not model.training
    onnx.checker.check_model(onnx.load(str(path)))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("images", "logits")
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [3, 64, 64]
    assert out.shape[0] == inp.shape[0]

    diff = check_onnx(path, model, sample)  # runs a batch of 3
    assert 0.0 <= diff < 1e-4
    for batch in (1, 4):
        images = torch.randn(batch, 3, 64, 64)
        (logits,) = session.run(["logits"], {"images": images.numpy()})
        with torch.no_grad():
            torch.testing.assert_close(
                torch.from_numpy(logits), model(images), atol=1e-4, rtol=1e-3
            )


def test_check_onnx_raises_on_mismatch(tmp_path):
    torch.manual_seed(0)
    sample = torch.randn(1, 3, 32, 32)
    path = export_onnx(TinyResNet(), sample, tmp_path / "model.onnx")

    with pytest.raises(OnnxMismatchError, match="differs from PyTorch") as info:
        check_onnx(path, TinyResNet(), sample)  # other random weights
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(OnnxMismatchError, match="shape"):
        check_onnx(path, TinyResNet(num_classes=4), sample)


class Shifted(nn.Module):
    """``model``'s logits plus ``shift``: an ONNX file of ``model`` is off by exactly that."""

    def __init__(self, model: nn.Module, shift: float) -> None:
        super().__init__()
        self.model, self.shift = model, shift

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images) + self.shift


def test_check_onnx_default_tolerance_refuses_1e_3_and_accepts_1e_6(tmp_path):
    torch.manual_seed(0)
    model = randomize_bn(TinyResNet()).eval()
    sample = torch.randn(1, 3, 32, 32)
    path = export_onnx(model, sample, tmp_path / "model.onnx")
    batch = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert model(batch).abs().max() < 10  # the tolerance is meant for such logits

    with pytest.raises(OnnxMismatchError, match=r"differs from PyTorch by up to 0\.001"):
        check_onnx(path, Shifted(model, 1e-3), sample)
    with pytest.raises(OnnxMismatchError, match="differs from PyTorch"):
        check_onnx(path, Shifted(model, -3e-4), sample)
    assert 1e-7 < check_onnx(path, Shifted(model, 1e-6), sample) < 2e-6


class TwoHeads(nn.Module):
    """A shared stem with two outputs of different shapes, as a detector has."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.scores = nn.Conv2d(8, 3, 1)
        self.boxes = nn.Conv2d(8, 4, 3, 2, 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(images)
        return self.scores(x), self.boxes(x)


def test_several_named_outputs_export_and_are_each_checked(tmp_path):
    torch.manual_seed(0)
    model = randomize_bn(TwoHeads())
    sample = torch.randn(1, 3, 32, 32)
    path = export_onnx(model, sample, tmp_path / "two.onnx", output_names=["scores", "boxes"])

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.get_outputs()
    assert [o.name for o in outputs] == ["scores", "boxes"]
    assert all(isinstance(o.shape[0], str) for o in outputs)
    images = torch.randn(5, 3, 32, 32)
    scores, boxes = session.run(["scores", "boxes"], {"images": images.numpy()})
    with torch.no_grad():
        expected = model(images)
    assert scores.shape == (5, 3, 16, 16) and boxes.shape == (5, 4, 8, 8)
    torch.testing.assert_close(torch.from_numpy(scores), expected[0], atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(torch.from_numpy(boxes), expected[1], atol=1e-4, rtol=1e-3)
    assert 0.0 <= check_onnx(path, model, sample) < 1e-4

    other = randomize_bn(TwoHeads())
    other.scores.load_state_dict(model.scores.state_dict())  # only the second output differs
    other.stem.load_state_dict(model.stem.state_dict())
    with pytest.raises(OnnxMismatchError, match="output boxes differs"):
        check_onnx(path, other, sample)
    with pytest.raises(OnnxMismatchError, match="2 outputs, PyTorch returns 1"):
        check_onnx(path, TinyResNet(), sample)


class Classifier(pl.LightningModule):
    """Logs ``score`` = -epoch, so the best checkpoint is always the first epoch's."""

    def __init__(self) -> None:
        super().__init__()
        self.model = TinyResNet(num_classes=3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch, batch_idx):
        images, target = batch
        return F.cross_entropy(self(images), target)

    def validation_step(self, batch, batch_idx):
        self.log("score", -float(self.current_epoch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


class RecordFinalWeights(Callback):
    def on_train_end(self, trainer, pl_module):
        self.state = {k: v.clone() for k, v in pl_module.state_dict().items()}
        self.modes = {name: m.training for name, m in pl_module.named_modules()}


def test_onnx_export_callback_exports_best_checkpoint(tmp_path):
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(8, 3, 32, 32), torch.randint(0, 3, (8,)))
    loader = DataLoader(data, batch_size=4)
    module = Classifier()
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="score", mode="max")
    export = OnnxExport(image_size=32, dirpath=str(tmp_path / "export"))
    final = RecordFinalWeights()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=3,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[checkpoint, final, export],
        default_root_dir=tmp_path,
    )
    trainer.fit(module, loader, loader)

    assert export.path == tmp_path / "export" / "model.onnx" and export.path.is_file()
    assert "epoch=0" in checkpoint.best_model_path
    best = Classifier.load_from_checkpoint(checkpoint.best_model_path).eval()
    session = ort.InferenceSession(str(export.path), providers=["CPUExecutionProvider"])
    images = torch.randn(2, 3, 32, 32)
    (logits,) = session.run(["logits"], {"images": images.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(logits), best(images), atol=1e-4, rtol=1e-3)
        assert not torch.allclose(torch.from_numpy(logits), module.eval()(images), atol=1e-3)
    # The trained module itself was left as it was.
    module_state = module.state_dict()
    assert all(torch.equal(module_state[k], v) for k, v in final.state.items())


def test_onnx_export_callback_defaults_to_root_dir_and_current_weights(tmp_path):
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(4, 3, 32, 32), torch.randint(0, 3, (4,)))
    module = Classifier()
    final = RecordFinalWeights()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[final, OnnxExport(image_size=32)],
        default_root_dir=tmp_path,
    )
    loader = DataLoader(data, batch_size=4)
    trainer.fit(module, loader, loader)

    path = tmp_path / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = torch.randn(3, 3, 32, 32)
    (logits,) = session.run(["logits"], {"images": images.numpy()})
    assert {name: m.training for name, m in module.named_modules()} == final.modes
    with torch.no_grad():
        torch.testing.assert_close(
            torch.from_numpy(logits), module.eval()(images), atol=1e-4, rtol=1e-3
        )


class Detector(pl.LightningModule):
    """``forward`` returns a dict, as a detector's structured outputs; ``exportable`` flattens.

    Logs ``score`` = -epoch, so the best checkpoint is always the first epoch's.
    """

    def __init__(self) -> None:
        super().__init__()
        self.model = TwoHeads()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        scores, boxes = self.model(images)
        return {"scores": scores, "boxes": boxes}

    def exportable(self) -> tuple[nn.Module, list[str]]:
        return self.model, ["scores", "boxes"]

    def training_step(self, batch, batch_idx):
        outputs = self(batch[0])
        return outputs["scores"].square().mean() + (outputs["boxes"] - 1).square().mean()

    def validation_step(self, batch, batch_idx):
        self.log("score", -float(self.current_epoch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


def test_onnx_export_callback_exports_what_the_module_calls_exportable(tmp_path):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(8, 3, 32, 32)), batch_size=4)
    module = Detector()
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="score", mode="max")
    export = OnnxExport(image_size=32, dirpath=str(tmp_path))
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[checkpoint, export],
    )
    trainer.fit(module, loader, loader)

    session = ort.InferenceSession(str(export.path), providers=["CPUExecutionProvider"])
    assert [output.name for output in session.get_outputs()] == ["scores", "boxes"]
    images = torch.randn(3, 3, 32, 32)
    scores, boxes = session.run(["scores", "boxes"], {"images": images.numpy()})
    best = Detector.load_from_checkpoint(checkpoint.best_model_path).eval()
    assert "epoch=0" in checkpoint.best_model_path
    with torch.no_grad():
        expected, final = best(images), module.eval()(images)
    assert not torch.allclose(torch.from_numpy(boxes), final["boxes"], atol=1e-3)  # not the last
    torch.testing.assert_close(torch.from_numpy(scores), expected["scores"], atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(torch.from_numpy(boxes), expected["boxes"], atol=1e-4, rtol=1e-3)
