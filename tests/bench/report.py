"""The benchmark's one table: a row per (scenario, metric), side by side with the peer and the
physical bound, against the issue's target."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.table import Table

COLUMNS = ("scenario", "metric", "service", "peer", "bound", "target", "met?")


@dataclass(frozen=True)
class Row:
    scenario: str
    metric: str
    service: str
    peer: str = "—"
    bound: str = "—"
    target: str = "—"
    met: bool | None = None  # None: no target (a figure for context)

    def cells(self) -> list[str]:
        met = "—" if self.met is None else ("yes" if self.met else "NO")
        return [self.scenario, self.metric, self.service, self.peer, self.bound, self.target, met]


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for the table; "n/a" for None or nan."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def ms(seconds: float | None) -> str:
    return fmt(None if seconds is None else seconds * 1000, 0)


def rich_table(rows: list[Row], title: str) -> Table:
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row.cells())
    return table


def markdown(rows: list[Row], title: str, notes: list[str]) -> str:
    lines = [f"# {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |")
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"
