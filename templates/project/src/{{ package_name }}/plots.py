"""The pictures a run writes: sample grids, test diagnostics and training curves (PNG).

Each function draws one kind of picture from plain arrays and saves it; the tasks
decide what goes in (``ImageTask.preview_tile``, ``ImageTask.draw_diagnostics``).
Drawn with matplotlib's object API (``Figure``): no GUI backend, no global state.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import albumentations as A
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image
from torch import Tensor

#: Class colours for masks (RGB uint8): matplotlib's ten distinct ones for classes 1-10, then
#: random ones. Class 0 (background) and 255 (ignored) stay uncoloured.
PALETTE = np.random.default_rng(0).integers(64, 256, size=(256, 3), dtype=np.uint8)
PALETTE[1:11] = np.rint(np.asarray(colormaps["tab10"].colors) * 255).astype(np.uint8)
RIGHT, WRONG = "#2ca02c", "#d62728"
"""Frame colours of a prediction whose label is known: right (green), wrong (red)."""
DPI = 100
MAX_LABELLED = 30
"""Beyond this many classes, cells and bars carry no numbers and curves no legend."""
MAX_INCHES = 20.0
OVERLAY_TILES = 48
"""The most prediction overlays (masks, boxes) one ``predict`` grid shows."""
OVERLAY_THUMBNAIL = 256
"""The longest side of an overlay in that grid, in pixels (smaller ones stay as they are)."""


class Tile(NamedTuple):
    """One picture of a grid: ``image (H, W, 3)`` uint8, a caption, and a frame colour."""

    image: np.ndarray
    caption: str = ""
    frame: str | None = None


class Curve(NamedTuple):
    """A logged value over training: the global steps it was logged at and its values."""

    steps: list[int]
    values: list[float]


def denormalizer(pipeline: A.Compose) -> Callable[[Tensor], np.ndarray]:
    """``image (3, H, W)`` as the model sees it -> ``(H, W, 3)`` uint8, as a person would.

    Undoes the pipeline's ``Normalize`` (standard normalisation, at the top level);
    a pipeline without one has each image's value range stretched to 0..255.
    """
    normalize = next((t for t in pipeline.transforms if isinstance(t, A.Normalize)), None)
    standard = normalize is not None and normalize.normalization == "standard"

    def to_picture(image: Tensor) -> np.ndarray:
        pixels = image.detach().float().cpu().numpy().transpose(1, 2, 0)
        if standard:
            scale = normalize.max_pixel_value
            pixels = (pixels * np.asarray(normalize.std) + np.asarray(normalize.mean)) * scale
        else:
            low, high = pixels.min(), pixels.max()
            pixels = (pixels - low) / max(high - low, 1e-8) * 255
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)

    return to_picture


def blend(image: np.ndarray, mask: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """``image (H, W, 3)`` uint8 with each class of ``mask (H, W)`` tinted in its colour and
    outlined in it (solid), so a region reads as its class whatever the image's colours."""
    tinted = (1 - opacity) * image.astype(np.float32) + opacity * PALETTE[mask]
    coloured = (mask > 0) & (mask < 255)
    padded = np.pad(mask, 1, mode="edge")
    edge = np.zeros_like(coloured)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):  # a neighbour of another class
        edge |= padded[dy : dy + mask.shape[0], dx : dx + mask.shape[1]] != mask
    blended = np.where(coloured[..., None], tinted, image)
    blended[coloured & edge] = PALETTE[mask[coloured & edge]]
    return blended.astype(np.uint8)


def grey(image: np.ndarray) -> np.ndarray:
    """``image (H, W, 3)`` uint8 in grey, so that mask colours over it read true."""
    luminance = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat(np.rint(luminance).astype(np.uint8)[..., None], 3, axis=2)


def class_legend(names: Sequence[str]) -> list[Patch]:
    """Legend entries for the mask colours of classes 1.. (class 0 is the background)."""
    return [Patch(color=PALETTE[k] / 255, label=name) for k, name in enumerate(names) if k > 0]


def save_grid(
    tiles: Sequence[Tile],
    path: Path,
    *,
    columns: int | None = None,
    title: str = "",
    legend: Sequence[Patch] = (),
) -> Path:
    """The tiles in rows of ``columns`` (default: about square), captions above, frames around."""
    aspect = max(tile.image.shape[1] / tile.image.shape[0] for tile in tiles)  # width / height
    columns = columns or math.ceil(math.sqrt(len(tiles) / aspect))
    rows = math.ceil(len(tiles) / columns)
    figure = _figure((2.0 * aspect * columns, 2.2 * rows + (0.6 if legend else 0.3)))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[len(tiles) :]:
        axis.set_visible(False)
    for axis, tile in zip(axes, tiles, strict=False):
        axis.imshow(tile.image, interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title(tile.caption, fontsize=9)
        for spine in axis.spines.values():
            spine.set_visible(tile.frame is not None)
            if tile.frame is not None:
                spine.set_edgecolor(tile.frame)
                spine.set_linewidth(4)
    if legend:
        figure.legend(handles=list(legend), loc="outside lower center", ncol=min(len(legend), 8))
    figure.suptitle(title)
    return _save(figure, path)


def save_overlay_grid(
    overlays: Sequence[Path], path: Path, what: str, legend: Sequence[Patch] = ()
) -> Path:
    """At most ``OVERLAY_TILES`` of the pictures ``overlays`` spread evenly over them, each
    shrunk to ``OVERLAY_THUMBNAIL`` pixels at most, captioned with its file name."""
    spread = np.linspace(0, len(overlays) - 1, min(OVERLAY_TILES, len(overlays)))
    tiles = []
    for index in spread.round().astype(int):
        with Image.open(overlays[index]) as overlay:
            overlay.thumbnail((OVERLAY_THUMBNAIL, OVERLAY_THUMBNAIL))
            tiles.append(Tile(np.asarray(overlay.convert("RGB")), overlays[index].name))
    return save_grid(tiles, path, title=f"{len(tiles)} of {len(overlays)} {what}", legend=legend)


def save_confusion_matrix(counts: np.ndarray, names: Sequence[str], path: Path) -> Path:
    """``counts (K, K)``, rows the true class, drawn with each row normalised to sum to 1.

    A class without images in the split has an empty row that says so (normalising it
    would divide by zero).
    """
    size = len(names)
    totals = counts.sum(axis=1, keepdims=True)
    matrix = np.divide(counts, totals, out=np.full(counts.shape, np.nan), where=totals > 0)
    cell = min(0.6, MAX_INCHES / size)
    figure = _figure((2.5 + cell * size, 2 + cell * size))
    axis = figure.subplots()
    shown = axis.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.04)
    for row in np.flatnonzero(totals[:, 0] == 0):
        axis.text((size - 1) / 2, row, "no images", ha="center", va="center", color="#c0392b")
    if size <= MAX_LABELLED:  # beyond that the numbers would not fit their cells
        for (row, column), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                colour = "white" if value > 0.5 else "black"
                axis.text(column, row, f"{value:.2f}", ha="center", va="center", color=colour)
    _name_ticks(axis.set_xticks, names)
    rows = [f"{name} ({int(total)})" for name, total in zip(names, totals[:, 0], strict=True)]
    axis.set_yticks(range(size), rows, fontsize=10 if size <= MAX_LABELLED else 6)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true (images)")
    axis.set_title("confusion matrix (each true class sums to 1)")
    return _save(figure, path)


def save_bars(values: np.ndarray, names: Sequence[str], path: Path, *, metric: str) -> Path:
    """One bar per class with its value written on it, and the mean as a dashed line."""
    figure = _figure((min(MAX_INCHES, max(5.0, 1.5 + 0.5 * len(names))), 4))
    axis = figure.subplots()
    bars = axis.bar(range(len(names)), values, color="#4c72b0")
    if len(names) <= MAX_LABELLED:
        labels = [f"{v:.2f}" for v in values]
        axis.bar_label(bars, labels=labels, label_type="center", color="white")
    mean = float(np.mean(values))
    axis.axhline(mean, color="#555555", linestyle="--")
    _name_ticks(axis.set_xticks, names)
    axis.set_ylim(0, 1.08)
    axis.set_ylabel(metric)
    axis.set_title(f"{metric} per class (mean {mean:.3f}, dashed)")
    return _save(figure, path)


def save_pr_curves(
    curves: Sequence[tuple[np.ndarray, np.ndarray]],
    average_precision: np.ndarray,
    names: Sequence[str],
    path: Path,
) -> Path:
    """Precision against recall, one ``(precision, recall)`` curve per class, AP in the legend."""
    figure = _figure((6, 5))
    axis = figure.subplots()
    for (precision, recall), ap, name in zip(curves, average_precision, names, strict=True):
        axis.plot(recall, precision, drawstyle="steps-post", label=f"{name}  AP {ap:.3f}")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    axis.set_title(f"precision-recall per class (mAP {float(np.mean(average_precision)):.3f})")
    if len(names) <= MAX_LABELLED:
        axis.legend(loc="lower left", fontsize=8)
    axis.grid(alpha=0.3)
    return _save(figure, path)


def read_curves(metrics_csv: Path) -> dict[str, Curve]:
    """Every numeric column of a Lightning ``metrics.csv``, as a curve over ``step``.

    Lightning writes one row per logging call, so each column is filled only on
    the rows where it was logged; the empty cells are skipped.
    """
    curves: dict[str, Curve] = {}
    with metrics_csv.open(newline="") as file:
        for row in csv.DictReader(file):
            step = int(row["step"])
            for name, cell in row.items():
                if name in ("epoch", "step") or cell in ("", None):
                    continue
                curve = curves.setdefault(name, Curve([], []))
                curve.steps.append(step)
                curve.values.append(float(cell))
    return curves


def save_training_curves(curves: dict[str, Curve], monitor: str, path: Path) -> Path:
    """Three panels over training steps: the losses, ``monitor`` and the learning rates."""
    panels = {
        "loss": [name for name in curves if name.split("/")[-1].startswith("loss")],
        monitor: [name for name in curves if name == monitor],
        "learning rate": [name for name in curves if name.startswith("lr-")],
    }
    figure = _figure((15, 4))
    for axis, (title, names) in zip(figure.subplots(1, 3), panels.items(), strict=True):
        for name, curve in _merge_equal({name: curves[name] for name in sorted(names)}).items():
            marker = "o" if len(curve.steps) < 50 else None  # per-epoch values show as dots
            axis.plot(curve.steps, curve.values, marker=marker, markersize=3, label=name)
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if names:
            axis.legend(fontsize=8)
        else:
            axis.text(0.5, 0.5, "not logged", ha="center", va="center", transform=axis.transAxes)
    return _save(figure, path)


def _merge_equal(curves: dict[str, Curve]) -> dict[str, Curve]:
    """Curves that are equal drawn once, under their names joined (e.g. param groups' lr)."""
    merged: dict[str, Curve] = {}
    for name, curve in curves.items():
        same = next((label for label, kept in merged.items() if kept == curve), None)
        if same is None:
            merged[name] = curve
        else:
            merged[f"{same}, {name}"] = merged.pop(same)
    return merged


def _name_ticks(set_ticks: Callable[..., object], names: Sequence[str]) -> None:
    """One tick per class, its name slanted when names are long enough to collide."""
    slanted = max(map(len, names), default=0) > 3 or len(names) > MAX_LABELLED
    size = 10 if len(names) <= MAX_LABELLED else 6
    set_ticks(
        range(len(names)),
        names,
        rotation=45 if slanted else 0,
        ha="right" if slanted else "center",
        fontsize=size,
    )


def _figure(size: tuple[float, float]) -> Figure:
    """A figure whose layout keeps titles, labels and legends inside it."""
    return Figure(figsize=size, dpi=DPI, layout="constrained")


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
