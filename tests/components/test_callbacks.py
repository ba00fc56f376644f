"""Training callbacks: UnfreezeSchedule (incl. resume) and EMA, on tiny CPU fits."""

from __future__ import annotations

from collections import OrderedDict

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from component_library.callbacks.ema import EMA, EMADecayError
from component_library.callbacks.unfreeze import UnfreezeSchedule, UnfreezeScheduleError
from component_library.optim.param_groups import param_groups
from component_library.optim.schedulers import build_scheduler

from .catalogue import entries, load


def make_trainer(tmp_path, max_epochs: int, callbacks: list[Callback], **kwargs) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        default_root_dir=tmp_path,
        callbacks=callbacks,
        **kwargs,
    )


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", entries("callbacks"))
def test_catalogue_callbacks_are_lightning_callbacks(name):
    assert issubclass(load("callbacks", name), Callback)


# ---------------------------------------------------------------------- unfreeze


class Net(nn.Module):
    """``backbone.stem`` and ``backbone.layer`` (conv, norms) + ``head``.

    ``backbone.layer.1`` (GroupNorm) and ``head.0`` (LayerNorm) start with equal values,
    ones and zeros, yet are different parameters.
    """

    def __init__(self) -> None:
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        layer = nn.Sequential(
            nn.Conv2d(4, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.BatchNorm2d(4), nn.ReLU()
        )
        self.backbone = nn.Sequential(OrderedDict(stem=stem, layer=layer))
        self.head = nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images).mean((2, 3)))


class Classifier(pl.LightningModule):
    """AdamW over the trainable parameters, cosine schedule; probes each epoch's first batch."""

    def __init__(self, total_steps: int = 8) -> None:
        super().__init__()
        self.model = Net()
        self.total_steps = total_steps
        self.probes: dict[int, dict] = {}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch, batch_idx):
        if batch_idx == 0:
            self.probes[self.current_epoch] = self.probe()
        images, target = batch
        return F.cross_entropy(self(images), target)

    def probe(self) -> dict:
        names = {id(p): name for name, p in self.model.named_parameters()}
        return {
            "requires_grad": {n: p.requires_grad for n, p in self.model.named_parameters()},
            "bn_training": {
                n: m.training
                for n, m in self.model.named_modules()
                if isinstance(m, nn.BatchNorm2d)
            },
            "groups": [
                {
                    "params": sorted(names[id(p)] for p in group["params"]),
                    "lr": group["lr"],
                    "initial_lr": group.get("initial_lr"),
                    "weight_decay": group.get("weight_decay"),
                }
                for group in self.trainer.optimizers[0].param_groups
            ],
        }

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(param_groups(self, weight_decay=0.05), lr=0.01)
        scheduler = build_scheduler(
            optimizer, name="cosine", total_steps=self.total_steps, warmup_steps=1
        )
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def class_loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(8, 3, 8, 8, generator=generator)
    return DataLoader(TensorDataset(images, torch.arange(8) % 3), batch_size=4)


def per_epoch(module: Classifier, key: str, name: str) -> list:
    return [module.probes[epoch][key][name] for epoch in sorted(module.probes)]


def group_of(probe: dict, name: str) -> dict:
    (group,) = [group for group in probe["groups"] if name in group["params"]]
    return group


SCHEDULE = [
    {"module": "model.backbone.layer", "epoch": 1, "lr_factor": 0.5},
    {"module": "model.backbone.stem", "epoch": 2, "lr_factor": 0.1, "train_bn": False},
]


def test_unfreeze_schedule_flips_requires_grad_and_adds_param_groups(tmp_path):
    torch.manual_seed(0)
    module = Classifier(total_steps=6)
    initial = snapshot(module.model)
    make_trainer(tmp_path, 3, [UnfreezeSchedule(SCHEDULE)]).fit(module, class_loader())

    # requires_grad flips exactly at each module's epoch; BatchNorm follows train_bn.
    assert per_epoch(module, "requires_grad", "backbone.layer.0.weight") == [False, True, True]
    assert per_epoch(module, "requires_grad", "backbone.layer.1.weight") == [False, True, True]
    assert per_epoch(module, "requires_grad", "backbone.layer.2.weight") == [True, True, True]
    assert per_epoch(module, "requires_grad", "backbone.stem.0.weight") == [False, False, True]
    assert per_epoch(module, "requires_grad", "backbone.stem.1.weight") == [False, False, False]
    assert per_epoch(module, "bn_training", "backbone.layer.2") == [True, True, True]
    assert per_epoch(module, "bn_training", "backbone.stem.1") == [False, False, False]

    # New groups: lr = base lr * lr_factor, no weight decay for biases and norms.
    first, second, third = (module.probes[epoch] for epoch in range(3))
    base = group_of(first, "head.1.weight")
    assert len(first["groups"]) == 2 and len(second["groups"]) == 4 and len(third["groups"]) == 6
    assert [g["params"] for g in second["groups"]] == [g["params"] for g in third["groups"][:4]]
    added = {
        "backbone.layer.0.weight": (0.5, 0.05),
        "backbone.layer.0.bias": (0.5, 0.0),
        "backbone.layer.1.weight": (0.5, 0.0),
        "backbone.stem.0.weight": (0.1, 0.05),
        "backbone.stem.0.bias": (0.1, 0.0),
    }
    for name, (factor, weight_decay) in added.items():
        group = group_of(third, name)
        assert group["initial_lr"] == pytest.approx(base["initial_lr"] * factor)
        assert group["weight_decay"] == weight_decay
        # The cosine schedule drives the new groups like the base one.
        assert group["lr"] == pytest.approx(group_of(third, "head.1.weight")["lr"] * factor)
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    in_optimizer = [n for group in third["groups"] for n in group["params"]]
    assert sorted(in_optimizer) == sorted(trainable)
    assert "backbone.stem.1.weight" not in trainable

    # Frozen BatchNorm kept its affine parameters and running statistics.
    final = snapshot(module.model)
    for key in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(final[f"backbone.stem.1.{key}"], initial[f"backbone.stem.1.{key}"])
    assert not torch.equal(final["backbone.stem.0.weight"], initial["backbone.stem.0.weight"])


def test_unfreeze_schedule_adds_every_parameter_of_modules_unfrozen_together(tmp_path):
    # head.0 (LayerNorm) and backbone.layer.1 (GroupNorm) hold equal values when both
    # unfreeze; each parameter must still get into the optimizer.
    schedule = [{"module": "model.head.0", "epoch": 1}, {"module": "model.backbone", "epoch": 1}]
    module = Classifier(total_steps=4)
    make_trainer(tmp_path, 2, [UnfreezeSchedule(schedule)]).fit(module, class_loader())

    in_optimizer = [n for group in module.probes[1]["groups"] for n in group["params"]]
    assert sorted(in_optimizer) == sorted(n for n, _ in module.model.named_parameters())
    # Defaults: lr_factor 0.1, and train_bn true (BatchNorm trains while its module is frozen).
    base = group_of(module.probes[1], "head.1.weight")["initial_lr"]
    for name in ("head.0.weight", "backbone.stem.0.weight", "backbone.layer.1.bias"):
        assert group_of(module.probes[1], name)["initial_lr"] == pytest.approx(0.1 * base)
    assert module.probes[0]["requires_grad"]["backbone.stem.1.weight"] is True
    assert group_of(module.probes[0], "backbone.stem.1.weight")["initial_lr"] == base
    assert module.probes[0]["requires_grad"]["backbone.stem.0.weight"] is False
    assert module.probes[0]["bn_training"] == {"backbone.stem.1": True, "backbone.layer.2": True}


class RpropClassifier(Classifier):
    """Rprop (no weight decay at all), no LR schedule, and two groups with different lrs."""

    def configure_optimizers(self):
        head = list(self.model.head.parameters())
        others = [p for p in self.model.backbone.parameters() if p.requires_grad]
        return torch.optim.Rprop([{"params": head, "lr": 0.02}, {"params": others, "lr": 0.5}])


def test_unfreeze_schedule_without_scheduler_or_weight_decay_uses_the_first_group(tmp_path):
    schedule = [{"module": "model.backbone", "epoch": 1, "lr_factor": 0.5}]
    module = RpropClassifier()
    make_trainer(tmp_path, 2, [UnfreezeSchedule(schedule)]).fit(module, class_loader())

    before, after = module.probes[0]["groups"], module.probes[1]["groups"]
    assert [g["lr"] for g in before] == [0.02, 0.5]
    added = after[len(before) :]
    assert added and all(g["lr"] == pytest.approx(0.01) for g in added)  # 0.5 x the first lr
    assert all(g["weight_decay"] == 0.0 for g in added)
    assert "backbone.layer.0.weight" in [name for g in added for name in g["params"]]


def test_unfreeze_schedule_resumes_between_two_unfreezes(tmp_path):
    schedule = [dict(SCHEDULE[0]), dict(SCHEDULE[1], epoch=3)]
    torch.manual_seed(0)
    straight = Classifier()
    make_trainer(tmp_path / "a", 4, [UnfreezeSchedule(schedule)]).fit(straight, class_loader())

    torch.manual_seed(0)
    first = Classifier()
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    callbacks = [UnfreezeSchedule(schedule), checkpoint]
    make_trainer(tmp_path / "b", 2, callbacks).fit(first, class_loader())
    assert first.probes[1]["requires_grad"]["backbone.layer.0.weight"]

    resumed = Classifier()
    callbacks = [
        UnfreezeSchedule(schedule),
        ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True),
    ]
    make_trainer(tmp_path / "b", 4, callbacks).fit(
        resumed, class_loader(), ckpt_path=checkpoint.last_model_path
    )
    assert sorted(resumed.probes) == [2, 3]
    assert per_epoch(resumed, "requires_grad", "backbone.layer.0.weight") == [True, True]
    assert per_epoch(resumed, "requires_grad", "backbone.stem.0.weight") == [False, True]
    assert per_epoch(resumed, "bn_training", "backbone.stem.1") == [False, False]
    for epoch in (2, 3):
        groups, expected = resumed.probes[epoch]["groups"], straight.probes[epoch]["groups"]
        assert [g["params"] for g in groups] == [g["params"] for g in expected]
        for group, reference in zip(groups, expected, strict=True):
            assert group["lr"] == pytest.approx(reference["lr"])
            assert group["initial_lr"] == pytest.approx(reference["initial_lr"])
    # Optimizer state and schedule were restored: the runs end with the same weights.
    final = snapshot(resumed.model)
    for key, value in snapshot(straight.model).items():
        torch.testing.assert_close(final[key], value)


def test_unfreeze_schedule_unknown_module_suggests_close_names():
    callback = UnfreezeSchedule([{"module": "model.backbone.layr", "epoch": 1}])
    with pytest.raises(
        UnfreezeScheduleError, match=r"did you mean model\.backbone\.layer\b"
    ) as info:
        callback.freeze_before_training(Classifier())
    message = str(info.value)
    assert message == (
        "unfreeze schedule: Classifier has no module 'model.backbone.layr'; did you mean "
        "model.backbone.layer, model.backbone.layer.3, model.backbone.layer.2?"
    )  # the three closest of the ten close names


def test_unfreeze_schedule_unknown_module_without_close_names_has_no_hint():
    callback = UnfreezeSchedule([{"module": "zzz", "epoch": 1}])
    with pytest.raises(UnfreezeScheduleError) as info:
        callback.freeze_before_training(Classifier())
    assert str(info.value) == "unfreeze schedule: Classifier has no module 'zzz'"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"module": "model.head"}, "expected keys"),
        ({"epoch": 1}, "expected keys"),
        ({"module": 3, "epoch": 1}, "dotted path"),
        ({"module": "model.head", "epoch": True}, "epoch must be an integer >= 1"),
        ({"module": "model.head", "epoch": 1, "lr_factor": True}, "lr_factor must be a number"),
        ({"module": "model.head", "epoch": 1, "lr": 0.1}, "expected keys"),
        ({"module": "", "epoch": 1}, "dotted path"),
        ({"module": "model.head", "epoch": 0}, "epoch must be an integer >= 1"),
        ({"module": "model.head", "epoch": 1.5}, "epoch must be an integer >= 1"),
        ({"module": "model.head", "epoch": 1, "lr_factor": 0}, "lr_factor must be > 0"),
        ({"module": "model.head", "epoch": 1, "lr_factor": "0.1"}, "lr_factor must be a number"),
        ({"module": "model.head", "epoch": 1, "train_bn": "no"}, "train_bn must be true or false"),
    ],
)
def test_unfreeze_schedule_rejects_malformed_items(item, message):
    with pytest.raises(UnfreezeScheduleError, match=message) as info:
        UnfreezeSchedule([{"module": "model.head", "epoch": 1}, item])
    assert str(info.value).startswith("unfreeze schedule[1]")


# --------------------------------------------------------------------------- EMA


class Regressor(pl.LightningModule):
    """A linear regressor trained with plain SGD; records the weights validation sees.

    ``batch_norm``: a BatchNorm1d first, whose running statistics are buffers.
    """

    def __init__(self, batch_norm: bool = False) -> None:
        super().__init__()
        linear = nn.Linear(4, 1)
        self.model = nn.Sequential(nn.BatchNorm1d(4), linear) if batch_norm else linear
        self.validated: list[dict[str, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self(x), y)

    def validation_step(self, batch, batch_idx):
        if batch_idx == 0:
            self.validated.append(snapshot(self.model))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.2)


class RecordRawWeights(Callback):
    """Placed before EMA: the raw weights after every optimizer step and at epoch starts."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []
        self.epoch_starts: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append(snapshot(pl_module.model))

    def on_train_epoch_start(self, trainer, pl_module):
        self.epoch_starts.append(snapshot(pl_module.model))


def regression_loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 1.0
    return DataLoader(TensorDataset(x, y), batch_size=2)


def hand_ema(steps: list[dict[str, torch.Tensor]], decay: float) -> list[dict[str, torch.Tensor]]:
    """EMA after each step: the first step's tensors, then decay * ema + (1 - decay) * w.

    Only float tensors: integer buffers (BatchNorm's step count) are left out.
    """
    averages = [{k: w for k, w in steps[0].items() if w.is_floating_point()}]
    for weights in steps[1:]:
        averages.append({k: decay * a + (1 - decay) * weights[k] for k, a in averages[-1].items()})
    return averages


def test_ema_matches_hand_computed_average_and_is_used_for_validation(tmp_path):
    torch.manual_seed(0)
    module, raw = Regressor(), RecordRawWeights()
    loader = regression_loader()
    make_trainer(tmp_path, 2, [raw, EMA(decay=0.5)]).fit(module, loader, loader)

    assert len(raw.steps) == 8
    expected = hand_ema(raw.steps, 0.5)
    # Validation after each epoch (4 steps) sees the EMA weights ...
    for validated, average in zip(module.validated, (expected[3], expected[7]), strict=True):
        for k in average:
            torch.testing.assert_close(validated[k], average[k])
    # ... and training resumes from the raw weights.
    for k in raw.steps[3]:
        assert torch.equal(raw.epoch_starts[1][k], raw.steps[3][k])
    # After fit the module holds the EMA weights, which differ from the raw ones.
    final = snapshot(module.model)
    for k in final:
        torch.testing.assert_close(final[k], expected[-1][k])
        assert not torch.allclose(final[k], raw.steps[-1][k])


def test_ema_checkpoint_round_trip(tmp_path):
    loader = regression_loader()
    torch.manual_seed(0)
    straight = Regressor()
    make_trainer(tmp_path / "a", 2, [EMA(decay=0.5)]).fit(straight, loader, loader)

    torch.manual_seed(0)
    first = Regressor()
    raw = RecordRawWeights()
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    make_trainer(tmp_path / "b", 1, [raw, EMA(decay=0.5), checkpoint]).fit(first, loader, loader)
    saved = torch.load(checkpoint.last_model_path, weights_only=False)
    expected = hand_ema(raw.steps, 0.5)[-1]
    # The checkpoint's state_dict holds the EMA weights; the raw ones are kept for resuming.
    for k, v in expected.items():
        torch.testing.assert_close(saved["state_dict"][f"model.{k}"], v)
        torch.testing.assert_close(saved["current_model_state"][f"model.{k}"], raw.steps[-1][k])

    resumed = Regressor()
    callbacks = [EMA(decay=0.5), ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)]
    make_trainer(tmp_path / "b", 2, callbacks).fit(
        resumed, loader, loader, ckpt_path=checkpoint.last_model_path
    )
    for k, v in snapshot(straight).items():
        torch.testing.assert_close(snapshot(resumed)[k], v)


def test_ema_at_default_decay_averages_batch_norm_statistics(tmp_path):
    torch.manual_seed(0)
    module, raw = Regressor(batch_norm=True), RecordRawWeights()
    loader = regression_loader()
    make_trainer(tmp_path, 1, [raw, EMA()]).fit(module, loader, loader)

    assert EMA().decay == 0.999
    expected = hand_ema(raw.steps, 0.999)[-1]
    final = snapshot(module.model)
    assert {"0.running_mean", "0.running_var", "0.weight", "1.weight"} <= expected.keys()
    for k, v in expected.items():
        torch.testing.assert_close(final[k], v)
    # The running statistics moved during training, and the module holds their average.
    for k in ("0.running_mean", "0.running_var"):
        assert not torch.allclose(raw.steps[-1][k], raw.steps[0][k])
        assert not torch.allclose(final[k], raw.steps[-1][k])


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1, 1.5])
def test_ema_rejects_decay_outside_unit_interval(decay):
    with pytest.raises(EMADecayError, match=str(decay)):
        EMA(decay=decay)
