"""What the retrieval dataset formats share: items with a query/gallery role, and their checks.

An item is ``(image (3, H, W) float32, RetrievalTarget)``. The default
``DataLoader`` collation turns a batch of targets into one ``RetrievalTarget``
of ``(B,)`` tensors, which ``RetrievalMetrics.update`` takes field by field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import albumentations as A

from ._io import DatasetError, ImageDataset

ROLES = ("query", "gallery", "both")


class RetrievalTarget(NamedTuple):
    """The target of one item (or, collated, of one batch).

    Attributes:
        label: Identity index in ``[0, number of identities of the split)``.
        index: The item's index in the dataset, which tells apart the duplicates
            that ``DistributedSampler`` pads in.
        is_query: The item is searched for.
        is_gallery: The item can be found.
    """

    label: int
    index: int
    is_query: bool
    is_gallery: bool


class RetrievalRow(NamedTuple):
    """One listed image: its path, identity name, role, and where it was listed."""

    path: Path
    identity: str
    role: str
    where: str


class RetrievalDataset(ImageDataset[RetrievalTarget]):
    """Images of identities; labels are indices into the sorted identity names.

    Args:
        rows: The listed images.
        num_classes: For a training split, the number of identities the margin head
            classifies, checked against the data; roles are then unused. ``None``
            for an evaluation split, where every query must have at least one other
            gallery image of its identity to find.
        transform: albumentations pipeline applied to the ``(H, W, 3)`` uint8 image.
        source: The file or folder the rows came from.

    Attributes:
        identities: ``identities[label]`` is the identity's name.
    """

    def __init__(
        self,
        rows: Sequence[RetrievalRow],
        num_classes: int | None,
        transform: A.Compose | None,
        source: Path,
    ) -> None:
        self.identities = sorted({row.identity for row in rows})
        if num_classes is not None and len(self.identities) != num_classes:
            raise DatasetError(
                f"{source} has {len(self.identities)} identities but num_classes={num_classes}"
            )
        if num_classes is None:
            _check_queries(rows)
        label = {name: index for index, name in enumerate(self.identities)}
        samples = [
            (
                row.path,
                RetrievalTarget(
                    label[row.identity], index, row.role != "gallery", row.role != "query"
                ),
            )
            for index, row in enumerate(rows)
        ]
        super().__init__(samples, transform, source)

    @property
    def labels(self) -> list[int]:
        """The identity index of every item, in order (what ``PKSampler`` takes)."""
        return [target.label for _, target in self.samples]


def _check_queries(rows: Sequence[RetrievalRow]) -> None:
    """Each query needs a gallery image of its identity other than itself."""
    gallery = Counter(row.identity for row in rows if row.role != "query")
    for row in rows:
        if row.role != "gallery" and gallery[row.identity] - (row.role == "both") < 1:
            raise DatasetError(
                f"{row.where}: identity {row.identity!r} is a query with no other gallery image "
                f"to find (it needs at least two images, one of them in the gallery)"
            )
