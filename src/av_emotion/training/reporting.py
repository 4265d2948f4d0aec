"""What a finished run leaves beside its weights: metrics JSON, confusion-matrix picture, model card hook."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"


def write_results(output_dir: str | Path, results: dict[str, Any]) -> Path:
    """Write the run's results as JSON (`results.json`); non-finite floats become null."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {str(key): clean(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        return value

    path = Path(output_dir) / RESULTS_FILE
    path.write_text(json.dumps(clean(results), indent=2))
    return path


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], label_names: Sequence[str], path: str | Path, *, title: str = ""
) -> Path:
    """Save a confusion matrix (rows: reference, columns: prediction) as a PNG, row-normalised colours.

    Each cell shows its count; colour is the share of the row (the class' recall on the diagonal).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = max(4.0, 0.6 * len(label_names) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(label_names)), label_names, rotation=45, ha="right")
    axes.set_yticks(range(len(label_names)), label_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("reference")
    for i in range(len(label_names)):
        for j in range(len(label_names)):
            axes.text(
                j, i, int(counts[i, j]), ha="center", va="center", color="white" if shares[i, j] > 0.5 else "black"
            )
    if title:
        axes.set_title(title)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the reference class")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)


def write_model_card_hook(output_dir: str | Path, results: dict[str, Any], config: dict[str, Any]) -> Path | None:
    """MODEL CARD HOOK: render the model card of a finished run into `output_dir/README.md`.

    Called by the training loop on the main process after `save_pretrained`, with the run's real numbers;
    delegates to `av_emotion.hub.render_model_card`. A card that fails to render does not fail the run (the
    weights and results are already saved): the error is logged and None returned.
    """
    from av_emotion.hub import render_model_card

    try:
        return render_model_card(output_dir, results=results, config=config)
    except Exception as error:  # noqa: BLE001 - a card is documentation; never lose a finished run over it
        logger.warning("could not render the model card in %s: %s", output_dir, error)
        return None
