"""Single-label classification metrics (torchmetrics)."""

from __future__ import annotations

from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score


def classification_metrics(num_classes: int, top_k: int = 3) -> MetricCollection:
    """Accuracy, top-k accuracy, macro F1 and macro AUROC for ``num_classes`` classes.

    Keys of ``compute()``, all scalars:

    - ``accuracy``: fraction of samples whose arg-max class is right (micro).
    - ``top_k_accuracy``: fraction whose true class is among the ``top_k``
      highest scores. Only present when ``num_classes > top_k``; otherwise it
      would always be 1.
    - ``f1``: unweighted mean of the per-class F1 scores (macro); classes
      absent from both predictions and targets are left out of the mean.
    - ``auroc``: unweighted mean of the one-vs-rest ROC AUCs (macro, exact,
      so it keeps every score of the epoch). A class with no positive target
      in the epoch scores 0 in that mean (torchmetrics warns "No positive
      samples in targets").

    ``update(preds, target)``: preds ``(B, K)`` probabilities or logits,
    target ``(B,)`` long. torchmetrics applies a softmax to a batch that has
    values outside ``[0, 1]``, so a batch of logits that all lie in
    ``[0, 1]`` would be read as probabilities; passing probabilities avoids
    that ambiguity for ``auroc`` (the other metrics only use the ranking).
    """
    if num_classes < 2:
        raise ValueError(f"classification_metrics: num_classes must be >= 2, got {num_classes}")
    if top_k < 1:
        raise ValueError(f"classification_metrics: top_k must be >= 1, got {top_k}")
    metrics: dict[str, Metric] = {
        "accuracy": MulticlassAccuracy(num_classes, average="micro"),
        "f1": MulticlassF1Score(num_classes, average="macro"),
        "auroc": MulticlassAUROC(num_classes, average="macro"),
    }
    if num_classes > top_k:
        metrics["top_k_accuracy"] = MulticlassAccuracy(num_classes, top_k=top_k, average="micro")
    # No compute groups: torchmetrics merges metrics whose states are equal after the first
    # update, and after a perfectly classified first batch top-k accuracy, accuracy and F1
    # have equal states although their updates differ; top-k then reports top-1.
    return MetricCollection(metrics, compute_groups=False)
