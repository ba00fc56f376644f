"""Retrieval data listed in ``root/<split>.csv`` with the columns ``path,label[,role]``.

``path`` is relative to ``root``; ``label`` names the identity (any text: a
product id, an animal's name); ``role`` is ``query``, ``gallery`` or ``both``
(the default when the column is absent). Val and test hold identities never
seen in training (the open-set protocol of SOP, CUB and In-Shop).
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A

from ._io import DatasetError, existing_file, read_csv, write_image, write_split_csvs
from ._retrieval import ROLES, RetrievalDataset, RetrievalRow
from ._shapes import retrieval_samples

SAMPLE_QUERIES_PER_IDENTITY = 2
"""In the sample's val and test, the first images of each identity are queries, the rest
gallery (as in In-Shop)."""


class RetrievalCsvDataset(RetrievalDataset):
    """Items are ``(image (3, H, W) float32, RetrievalTarget)``.

    ``num_classes``: the number of identities for a training split (checked),
    ``None`` for an evaluation split (every query must have a match); see
    ``RetrievalDataset``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_classes: int | None = None,
        transform: A.Compose | None = None,
    ) -> None:
        root = Path(root)
        table = root / f"{split}.csv"
        header, lines = read_csv(table, ["path", "label"])
        rows = []
        for line, row in lines:
            where = f"{table}:{line}"
            identity = row["label"].strip()
            if not identity:
                raise DatasetError(f"{where}: empty label")
            role = row["role"].strip() if "role" in header else "both"
            if role not in ROLES:
                raise DatasetError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
            rows.append(
                RetrievalRow(existing_file(root, row["path"], where), identity, role, where)
            )
        super().__init__(rows, num_classes, transform, table)


def write_sample(
    root: str | Path, *, num_classes: int = 72, image_size: int = 64, seed: int = 0
) -> None:
    """Write identity images to ``root/images/<split>/<identity>/`` and list them in
    ``root/<split>.csv``; ``num_classes`` training identities, 18 new ones in each of
    val and test."""
    root = Path(root)
    rows = []
    for split, identity, number, image in retrieval_samples(num_classes, image_size, seed):
        path = f"images/{split}/{identity}/{number}.png"
        write_image(root / path, image)
        if split == "train":
            role = "both"
        else:
            role = "query" if number < SAMPLE_QUERIES_PER_IDENTITY else "gallery"
        rows.append((split, (path, identity, role)))
    write_split_csvs(root, ("path", "label", "role"), rows)
