"""SimCLR pretraining with the library's parts learns features a kNN classifier can use.

A timm ResNet-18 + average pooling + ProjectionMLP, trained with NTXentLoss on two
SimCLR views of the unlabelled sample images, must lift the weighted kNN top-1 on
the labelled val split by at least 0.2 over the same network at random init.
Run with ``-s`` to see the figures and times.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from component_library.backbones.timm_backbone import TimmBackbone
from component_library.datasets.image_folder import ImageFolderDataset
from component_library.datasets.two_view_folder import TwoViewFolderDataset, write_sample
from component_library.heads.projection_mlp import ProjectionMLP
from component_library.losses.nt_xent import NTXentLoss
from component_library.metrics.knn_accuracy import KnnAccuracy
from component_library.metrics.linear_probe import linear_probe
from component_library.poolings.avg_pool import AvgPool
from component_library.transforms.albumentations_yaml import build_transform
from component_library.transforms.two_views import simclr_steps

NUM_CLASSES, IMAGE_SIZE, BATCH_SIZE, STEPS, LR = 4, 32, 64, 80, 1e-3


class SimCLRNet(nn.Module):
    """Backbone -> pooled features ``(B, 512)`` -> projections ``(B, 128)``."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = TimmBackbone("resnet18")
        self.pooling = AvgPool(self.backbone.out_channels[-1])
        self.head = ProjectionMLP(self.backbone.out_channels[-1])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.pooling(self.backbone(images)[-1])


@torch.no_grad()
def evaluate(model: SimCLRNet, val: ImageFolderDataset) -> tuple[float, float]:
    """Leave-one-out weighted kNN top-1 on val, and a linear probe on val halves."""
    model.eval()
    features, labels = zip(
        *[(model.features(x), y) for x, y in DataLoader(val, batch_size=len(val))], strict=True
    )
    model.train()
    features, labels = torch.cat(features), torch.cat(labels)
    knn = KnnAccuracy(NUM_CLASSES)
    knn.update(features, labels)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    train, test = order[: len(order) // 2], order[len(order) // 2 :]
    probe = linear_probe(features[train], labels[train], features[test], labels[test], NUM_CLASSES)
    return knn.compute().item(), probe


@pytest.mark.slow
def test_pretrained_features_beat_random_init(tmp_path: Path) -> None:
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.manual_seed(0)
    write_sample(tmp_path, num_classes=NUM_CLASSES, image_size=IMAGE_SIZE)
    train = TwoViewFolderDataset(tmp_path / "train", build_transform(simclr_steps(IMAGE_SIZE)))
    val_transform = build_transform([{"name": "Normalize"}, {"name": "ToTensorV2"}])
    val = ImageFolderDataset(tmp_path, "val", NUM_CLASSES, val_transform)
    model = SimCLRNet()
    knn_before, probe_before = evaluate(model, val)

    loss_fn = NTXentLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    loader = DataLoader(train, batch_size=BATCH_SIZE, shuffle=True, drop_last=True)
    train_start, step, losses = time.perf_counter(), 0, []
    while step < STEPS:
        for views, _ in loader:
            # (B, 2, 3, H, W) -> (2B, 3, H, W), both views of image i at rows i and i + B
            images = torch.cat([views[:, 0], views[:, 1]])
            loss = loss_fn(model.head(model.features(images)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if step == STEPS:
                break
    train_seconds = time.perf_counter() - train_start
    knn_after, probe_after = evaluate(model, val)
    print(
        f"\nkNN top-1 {knn_before:.3f} -> {knn_after:.3f}, linear probe {probe_before:.3f} -> "
        f"{probe_after:.3f}, NT-Xent {sum(losses[:5]) / 5:.3f} -> {sum(losses[-5:]) / 5:.3f} "
        f"(chance {torch.log(torch.tensor(2.0 * BATCH_SIZE - 1)):.3f}); {STEPS} steps of "
        f"{BATCH_SIZE} images at {IMAGE_SIZE}px in {train_seconds:.0f} s; test "
        f"{time.perf_counter() - start:.0f} s wall, {time.process_time() - cpu_start:.0f} s CPU"
    )
    assert knn_after >= knn_before + 0.2
