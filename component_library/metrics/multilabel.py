"""Multilabel classification metrics (torchmetrics)."""

from __future__ import annotations

from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MultilabelAUROC,
    MultilabelAveragePrecision,
    MultilabelF1Score,
)


def multilabel_metrics(num_classes: int, threshold: float = 0.5) -> MetricCollection:
    """Macro mAP, macro F1 at ``threshold`` and per-label AUROC.

    ``num_classes`` is the number of labels ``K`` (named as in every metrics factory).
    Keys of ``compute()``:

    - ``map``: scalar, unweighted mean over labels of the average precision
      (exact, so it keeps every score of the epoch).
    - ``f1``: scalar, unweighted mean over labels of the F1 score, a label
      being predicted when its probability is above ``threshold``.
    - ``auroc_per_class``: ``(K,)`` ROC AUC of each label.

    A label with no positive target in the epoch has an average precision and
    an AUROC of 0 (torchmetrics warns), and its 0 counts in ``map``.

    ``update(preds, target)``: preds ``(B, K)`` probabilities or logits,
    target ``(B, K)`` int 0/1. torchmetrics applies a sigmoid to a batch that
    has values outside ``[0, 1]``, so a batch of logits that all lie in
    ``[0, 1]`` would be read as probabilities; passing probabilities avoids
    that ambiguity for ``f1`` (the other metrics only use the ranking).
    """
    if num_classes < 2:  # torchmetrics' multilabel metrics need two labels
        raise ValueError(f"multilabel_metrics: num_classes must be >= 2, got {num_classes}")
    if not 0 < threshold < 1:
        raise ValueError(f"multilabel_metrics: threshold must be in (0, 1), got {threshold}")
    return MetricCollection(
        {
            "map": MultilabelAveragePrecision(num_classes, average="macro"),
            "f1": MultilabelF1Score(num_classes, threshold=threshold, average="macro"),
            "auroc_per_class": MultilabelAUROC(num_classes, average="none"),
        },
        # Explicit groups: only metrics whose update is identical (both keep every score of
        # the epoch) share a state. Automatic groups merge any metrics whose states happen
        # to be equal after the first update, even when their updates differ.
        compute_groups=[["map", "auroc_per_class"], ["f1"]],
    )
