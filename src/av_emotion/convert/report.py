"""The report of loading converted weights into a module, in the style of transformers' loading report.

transformers prints a `Key | Status | Details` table after `from_pretrained` (MISSING, UNEXPECTED, MISMATCH);
`LoadingReport.to_table()` prints the same table for a converted backbone, with two more statuses a
conversion needs: SKIPPED (a checkpoint entry the mapping knows and leaves out on purpose, such as the
original network's classifier) and CONVERTED (a tensor changed on the way, such as RGB kernels averaged to
one input channel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadingReport:
    """What loading a converted checkpoint into a module did.

    Attributes:
        target: Name of what was loaded (for example `"avt_ca.video_encoder (EfficientFaceEncoder)"`).
        checkpoint: Path of the source checkpoint.
        loaded: Target keys that received a checkpoint tensor.
        missing: Target keys no checkpoint tensor maps to (they keep their initialisation).
        unexpected: Checkpoint keys the mapping does not know (not loaded).
        mismatched: `(target key, checkpoint shape, model shape)` of mapped tensors whose shape differs from the
            model's (not loaded).
        skipped: Checkpoint key -> why the mapping leaves it out on purpose.
        converted: Target key -> how its tensor was changed on the way.
    """

    target: str
    checkpoint: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    converted: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every model key was loaded and every checkpoint key was used or knowingly skipped."""
        return not (self.missing or self.unexpected or self.mismatched)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (written next to a converted model as `conversion_report.json`)."""
        return {
            "target": self.target,
            "checkpoint": self.checkpoint,
            "ok": self.ok,
            "loaded": len(self.loaded),
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "mismatched": [
                {"key": key, "checkpoint_shape": list(ckpt), "model_shape": list(model)}
                for key, ckpt, model in self.mismatched
            ],
            "skipped": dict(self.skipped),
            "converted": dict(self.converted),
        }

    def to_table(self) -> str:
        """`Key | Status | Details` table like transformers' LOAD REPORT, then a summary line."""
        rows: list[tuple[str, str, str]] = []
        rows += [
            (key, "UNEXPECTED", "in the checkpoint, unknown to the key mapping: not loaded") for key in self.unexpected
        ]
        rows += [(key, "MISSING", "no checkpoint tensor maps here: keeps its initialisation") for key in self.missing]
        rows += [
            (key, "MISMATCH", f"not loaded: checkpoint {tuple(ckpt)} vs model {tuple(model)}")
            for key, ckpt, model in self.mismatched
        ]
        rows += [(key, "SKIPPED", reason) for key, reason in self.skipped.items()]
        rows += [(key, "CONVERTED", how) for key, how in self.converted.items()]
        summary = (
            f"{self.target} LOAD REPORT from: {self.checkpoint}\n"
            f"{len(self.loaded)} loaded, {len(self.missing)} missing, {len(self.unexpected)} unexpected, "
            f"{len(self.mismatched)} mismatched, {len(self.skipped)} skipped, {len(self.converted)} converted"
        )
        if not rows:
            return summary
        widths = [max(len(row[i]) for row in [("Key", "Status", "Details"), *rows]) for i in range(3)]
        lines = [
            " | ".join(cell.ljust(width) for cell, width in zip(("Key", "Status", "Details"), widths)),
            "-+-".join("-" * width for width in widths),
        ]
        lines += [" | ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
        return summary + "\n" + "\n".join(lines)


__all__ = ["LoadingReport"]
