"""Number formatting shared by the leaderboard's tables and its findings section."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def with_ci(point: float, lower: float, upper: float, digits: int = 1) -> str:
    """"point [lower, upper]" with `digits` decimals."""
    return f"{point:.{digits}f} [{lower:.{digits}f}, {upper:.{digits}f}]"


def span(values: Iterable[int]) -> str:
    """"a" when all values are equal, else "min–max", with thousands separators."""
    ordered = sorted({int(v) for v in values})
    return f"{ordered[0]:,}" if len(ordered) == 1 else f"{ordered[0]:,}–{ordered[-1]:,}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A markdown table's lines; a "|" inside a cell is escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(value).replace("|", r"\|") for value in row) + " |" for row in rows]
