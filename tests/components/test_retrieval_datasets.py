"""Retrieval dataset formats: sample data (open-set, shared cues), targets, roles, errors."""

from __future__ import annotations

import colorsys
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from component_library.datasets import retrieval_csv, retrieval_folder
from component_library.datasets._io import DatasetError, write_image
from component_library.datasets._retrieval import RetrievalTarget
from component_library.datasets._shapes import (
    HUES,
    PATTERNS,
    RETRIEVAL_EVAL_IDENTITIES,
    RETRIEVAL_IMAGES_PER_IDENTITY,
    SHAPES,
    _identity_colour,
    identity_name,
    retrieval_identities,
)
from component_library.datasets.retrieval_csv import RetrievalCsvDataset
from component_library.datasets.retrieval_folder import RetrievalFolderDataset

SIZE, TRAIN_IDS = 32, 10
FORMATS = {"retrieval_csv": retrieval_csv, "retrieval_folder": retrieval_folder}
CLASSES = {"retrieval_csv": RetrievalCsvDataset, "retrieval_folder": RetrievalFolderDataset}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    roots = {}
    for name, module in FORMATS.items():
        roots[name] = tmp_path_factory.mktemp(name)
        module.write_sample(roots[name], num_classes=TRAIN_IDS, image_size=SIZE)
    return roots


def _identities(dataset) -> set[str]:
    return set(dataset.identities)


@pytest.mark.parametrize("name", FORMATS)
def test_sample_reads_back_with_disjoint_identities(name: str, samples) -> None:
    cls = CLASSES[name]
    train = cls(samples[name], "train", TRAIN_IDS)
    val, test = cls(samples[name], "val"), cls(samples[name], "test")
    assert len(train.identities) == TRAIN_IDS
    assert len(val.identities) == len(test.identities) == RETRIEVAL_EVAL_IDENTITIES
    assert not (_identities(train) & _identities(val)) and not (
        _identities(val) & _identities(test)
    )
    assert not (_identities(train) & _identities(test))
    assert len(val) == RETRIEVAL_EVAL_IDENTITIES * RETRIEVAL_IMAGES_PER_IDENTITY["val"]
    image, target = val[7]
    assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
    assert isinstance(target, RetrievalTarget) and target.index == 7
    assert val.identities[target.label] == val.samples[7][0].parent.name
    assert set(train.labels) == set(range(TRAIN_IDS))
    assert train.labels == [target.label for _, target in train.samples]


def test_csv_sample_has_queries_and_gallery_folder_sample_all_both(samples) -> None:
    val = RetrievalCsvDataset(samples["retrieval_csv"], "val")
    roles = [(t.is_query, t.is_gallery) for _, t in val.samples]
    per_identity = RETRIEVAL_IMAGES_PER_IDENTITY["val"]
    assert roles.count((True, False)) == 2 * RETRIEVAL_EVAL_IDENTITIES
    assert roles.count((False, True)) == (per_identity - 2) * RETRIEVAL_EVAL_IDENTITIES
    folder = RetrievalFolderDataset(samples["retrieval_folder"], "val")
    assert all(t.is_query and t.is_gallery for _, t in folder.samples)


@pytest.mark.parametrize("name", FORMATS)
def test_sample_is_deterministic(name: str, samples, tmp_path: Path) -> None:
    FORMATS[name].write_sample(tmp_path, num_classes=TRAIN_IDS, image_size=SIZE)
    for path in sorted(samples[name].rglob("*.*")):
        assert (tmp_path / path.relative_to(samples[name])).read_bytes() == path.read_bytes()


def test_batches_collate_into_one_target_of_tensors(samples) -> None:
    dataset = RetrievalCsvDataset(samples["retrieval_csv"], "test")
    images, target = next(iter(DataLoader(dataset, batch_size=5)))
    assert images.shape == (5, 3, SIZE, SIZE)
    assert isinstance(target, RetrievalTarget)
    assert target.index.tolist() == [0, 1, 2, 3, 4]
    assert target.is_query.dtype == torch.bool and target.label.dtype == torch.int64


def test_identities_share_cues_and_every_cue_is_trained() -> None:
    identities = retrieval_identities(72, seed=0)
    assert sum(len(v) for v in identities.values()) == len(SHAPES) * len(HUES) * len(PATTERNS)
    train = identities["train"]
    for cue, count in enumerate((len(SHAPES), len(HUES), len(PATTERNS))):
        assert {identity[cue] for identity in train} == set(range(count))
    val = identities["val"]
    for cue in range(3):  # some val identities agree on each single cue: one cue is not enough
        values = [identity[cue] for identity in val]
        assert len(set(values)) < len(values)
    assert len({identity_name(i) for i in val}) == len(val)
    with pytest.raises(ValueError, match="num_classes=73: the retrieval sample data has 1 to 72"):
        retrieval_identities(73, seed=0)


@pytest.mark.parametrize("hue", range(len(HUES)))
def test_an_identity_keeps_its_colour_within_a_narrow_band(hue: int) -> None:
    """One object under changing light: its hue stays within 0.02 of the band's centre (a
    class's colours, ``_shape_colour``, spread over 0.04) and it stays vivid."""
    rng = np.random.default_rng(hue)
    for _ in range(200):
        colour = _identity_colour(rng, hue)
        h, s, v = colorsys.rgb_to_hsv(*(colour / 255))
        offset = (h - hue / len(HUES) + 0.5) % 1.0 - 0.5
        assert abs(offset) <= 0.02 + 1e-9 and 0.75 - 1e-9 <= s <= 1 and 0.7 - 1e-9 <= v <= 1


# --- errors ---------------------------------------------------------------------------------


def _csv(root: Path, text: str) -> None:
    write_image(root / "a.png", np.zeros((8, 8, 3), np.uint8))
    (root / "val.csv").write_text(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,label,role\na.png,x,both\na.png,x,probe\n", r"val\.csv:3: role 'probe' is not one"),
        ("path,identity\na.png,x\n", r"val\.csv: missing column\(s\) label"),
        ("path,label\na.png,x\na.png,y\na.png,y\n", r"val\.csv:2: identity 'x' is a query with no"),
        (
            "path,label,role\na.png,x,query\na.png,x,query\na.png,y,both\na.png,y,gallery\n",
            r"val\.csv:2: identity 'x' is a query with no other gallery image",
        ),
        ("path,label\na.png, \n", r"val\.csv:2: empty label"),
        ("path,label\nb.png,x\n", r"val\.csv:2: file .*b\.png does not exist"),
    ],
)
def test_csv_errors_name_file_and_row(text: str, message: str, tmp_path: Path) -> None:
    _csv(tmp_path, text)
    with pytest.raises(DatasetError, match=message):
        RetrievalCsvDataset(tmp_path, "val")


def test_csv_training_split_checks_identity_count_not_queries(tmp_path: Path) -> None:
    _csv(tmp_path, "path,label\na.png,x\na.png,y\na.png,y\n")
    dataset = RetrievalCsvDataset(tmp_path, "val", num_classes=2)  # a singleton is fine here
    assert [target.label for _, target in dataset.samples] == [0, 1, 1]
    with pytest.raises(DatasetError, match=r"val\.csv has 2 identities but num_classes=3"):
        RetrievalCsvDataset(tmp_path, "val", num_classes=3)


def test_csv_without_role_column_makes_every_image_both(tmp_path: Path) -> None:
    _csv(tmp_path, "path,label\na.png,x\na.png,x\n")
    targets = [target for _, target in RetrievalCsvDataset(tmp_path, "val").samples]
    assert targets == [RetrievalTarget(0, 0, True, True), RetrievalTarget(0, 1, True, True)]


def test_folder_identity_with_a_single_image_names_the_folder(samples, tmp_path: Path) -> None:
    root = Path(shutil.copytree(samples["retrieval_folder"], tmp_path / "copy"))
    identity = sorted((root / "val").iterdir())[3]
    for image in sorted(identity.iterdir())[1:]:
        image.unlink()
    with pytest.raises(DatasetError, match=rf"{re.escape(str(identity))}: identity .* is a query"):
        RetrievalFolderDataset(root, "val")
    RetrievalFolderDataset(root, "val", num_classes=RETRIEVAL_EVAL_IDENTITIES)  # training: fine


def test_folder_missing_split(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"split folder .*nosuchsplit does not exist"):
        RetrievalFolderDataset(tmp_path, "nosuchsplit")
