"""The suite's results table: every scenario's declared rows, rendered from the pooled samples.

What each row shows is declared with its scenario (``_scenarios.py``, as ``_rows.Row``
records); this module only walks the registry, computes the rows and prints them, then the
details every worker recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._common import LABELS
from ._generated import Sizes
from ._rows import Line, Runs, View
from ._scenarios import SCENARIOS


@dataclass
class Table:
    """The rendered lines, and why scenarios reported nothing."""

    lines: list[Line] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def build_table(runs: Runs, sizes: Sizes, skipped: dict[str, str]) -> Table:
    """Every scenario's rows, in registry order, from the runs (of the scenarios that ran)."""
    table = Table()
    ran = {scenario for scenario, _ in runs}
    for scenario in SCENARIOS.values():
        view = View(runs, scenario.name)
        reason = skipped.get(scenario.name) or (
            view.skip_reason() if scenario.name in ran else None
        )
        if reason:
            table.skipped.append(f"{scenario.name}: {reason}")
            continue
        for row in scenario.rows(sizes):
            line = row.line(view) if ran.issuperset((scenario.name, *row.needs)) else None
            if line is not None:
                table.lines.append(line)
    return table


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return f"{text} {unit}"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.1:
        return f"1/{1 / value:.0f}" if value > 0 else "0"
    return f"{value:.2f}"


def print_table(table: Table) -> None:
    """The table in Markdown, aligned; then the rows' notes and the skipped scenarios."""
    header = ("scenario", "none", "%autoreload 2", "hotreload", "ratio", "target", "met?")
    texts = [header, tuple("-" * 3 for _ in header)]
    for line in table.lines:
        met = "-" if line.met is None else ("yes" if line.met else "**no**")
        texts.append(
            (
                line.label,
                fmt_value(line.none, line.unit),
                fmt_value(line.auto, line.unit),
                fmt_value(line.hot, line.unit),
                fmt_ratio(line.ratio),
                line.target,
                met,
            )
        )
    widths = [max(len(text[i]) for text in texts) for i in range(len(header))]
    for number, text in enumerate(texts):
        if number == 1:
            cells = ["-" * w for w in widths]
        else:
            cells = [
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(text, widths, strict=True))
            ]
        print("| " + " | ".join(cells) + " |")
    notes = [f"- {line.label}: {line.note}" for line in table.lines if line.note]
    if notes:
        print("\n".join(notes))
    for skipped in table.skipped:
        print(f"- skipped {skipped}")


def print_details(runs: Runs) -> None:
    """Every metric's median per scenario and configuration, and what the workers recorded."""
    print("\nDetails (medians over all rounds; times in ms, memory in bytes):")
    for (scenario, config), group in sorted(runs.items()):
        metrics = sorted({key for run in group for key in run["metrics"]})
        parts = []
        view = View(runs, scenario)
        for metric in metrics:
            value = view.median(config, metric)
            if value is None:
                continue
            if metric.endswith(("_cpu", "_wall")):
                parts.append(f"{metric} {value / 1e6:.3f}")
            else:
                parts.append(f"{metric} {value:,.0f}")
        info = {k: v for k, v in group[0]["info"].items() if k != "wrapped"}
        print(f"  {scenario} / {LABELS[config]} ({len(group)} runs): " + ", ".join(parts))
        if info:
            print(f"      {info}")
