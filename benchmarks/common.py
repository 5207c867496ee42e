"""What the benchmarks share: where results go, how they are written, percentiles."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which `share` (0..1) of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def save(name: str, figures: Mapping[str, Any]) -> Path:
    """Write `figures` to benchmarks/results/NAME.json; returns the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A Markdown table, for the terminal and for README.md alike."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
