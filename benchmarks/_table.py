"""The suite's table: one row per target of the speed issue, from the pooled samples."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from _common import AUTO, AUTO_FULL, HOT, HOT_NOTIFY, LABELS, NONE
from _generated import Sizes

Runs = dict[tuple[str, str], list[dict[str, Any]]]


def median_of(runs: Runs, scenario: str, config: str, metric: str) -> float | None:
    values: list[float] = []
    for run in runs.get((scenario, config), []):
        values += run["metrics"].get(metric, [])
    return statistics.median(values) if values else None


def info_of(runs: Runs, scenario: str, config: str, key: str) -> Any:
    for run in runs.get((scenario, config), []):
        if key in run["info"]:
            return run["info"][key]
    return None


@dataclass
class Row:
    """One line of the table; values are already in the row's unit."""

    label: str
    none: float | None
    auto: float | None
    hot: float | None
    ratio: float | None
    target: str
    met: bool | None
    unit: str = "ms"
    note: str = ""
    ratio_text: str = ""


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _ms(value: float | None) -> float | None:
    return None if value is None else value / 1e6


def build_table(runs: Runs, sizes: Sizes, skipped: dict[str, str]) -> Table:
    table = Table()
    ran = {scenario for scenario, _ in runs}

    def have(*names: str) -> bool:
        for name in names:
            if name in skipped:
                table.skipped.append(f"{name}: {skipped[name]}")
                return False
        return all(name in ran for name in names)

    def hooks(scenario: str, config: str) -> float | None:
        return _ms(median_of(runs, scenario, config, "hooks_cpu"))

    def cell(scenario: str) -> float | None:
        return _ms(median_of(runs, scenario, NONE, "cell_cpu"))

    def versus(label: str, scenario: str, limit: float, target: str, note: str = "") -> None:
        auto, hot = hooks(scenario, AUTO), hooks(scenario, HOT)
        ratio = _div(hot, auto)
        met = None if ratio is None else ratio <= limit
        table.rows.append(Row(label, cell(scenario), auto, hot, ratio, target, met, note=note))

    users = sizes.users
    if have("idle-heavy"):
        count = info_of(runs, "idle-heavy", AUTO, "sys_modules")
        versus(
            f"idle cell, heavy + 200 user modules ({count} in sys.modules)",
            "idle-heavy",
            1 / 20,
            "<= 1/20",
        )
    if have("idle-heavy", "idle-users"):
        hot_heavy, hot_users = hooks("idle-heavy", HOT), hooks("idle-users", HOT)
        ratio = _div(hot_heavy, hot_users)
        table.rows.append(
            Row(
                "idle cell, 200 user modules only (flat: heavy / this)",
                cell("idle-users"),
                hooks("idle-users", AUTO),
                hot_users,
                ratio,
                "<= 1.25 (flat)",
                None if ratio is None else ratio <= 1.25,
            )
        )
    if have("idle-many"):
        versus(f"idle cell, {users:,} user modules, polling", "idle-many", 1 / 3, "<= 1/3")
        auto = hooks("idle-many", AUTO)
        floor = info_of(runs, "idle-many", HOT, "stat_floor")
        for label, hot in (
            (
                "  same, with the Python stat loop (no C compiler at install)",
                _ms(median_of(runs, "idle-many", HOT, "python_loop_hooks_cpu")),
            ),
            (
                "  floor of a Python loop: one os.stat per watched file",
                floor * 1000 if isinstance(floor, float) else None,
            ),
        ):
            if hot is not None:
                table.rows.append(Row(label, None, None, hot, _div(hot, auto), "(for scale)", None))
    if have("idle-many-heavy"):
        count = info_of(runs, "idle-many-heavy", AUTO, "sys_modules")
        versus(
            f"idle cell, heavy + {users:,} user modules ({count} in sys.modules), polling",
            "idle-many-heavy",
            1 / 3,
            "<= 1/3",
        )
    for name, count in (("idle-notify-few", 200), ("idle-notify-many", users)):
        if have(name):
            value = hooks(name, HOT_NOTIFY)
            value_us = None if value is None else value * 1000
            table.rows.append(
                Row(
                    f"idle cell, {count:,} user modules, notify mode",
                    None,
                    None,
                    value_us,
                    None,
                    "<= 20 us",
                    None if value_us is None else value_us <= 20,
                    unit="us",
                )
            )
    if have("notify-component"):
        if info_of(runs, "notify-component", HOT, "skipped"):
            table.skipped.append(
                "notify-component: " + info_of(runs, "notify-component", HOT, "skipped")
            )
        else:
            for metric, what in (
                ("drain_cpu", "drain()"),
                ("drain_discover_cpu", "drain() + Watcher.discover()"),
            ):
                value = median_of(runs, "notify-component", HOT, metric)
                value_us = None if value is None else value / 1000
                table.rows.append(
                    Row(
                        f"notify collector alone: {what}, {users:,} modules",
                        None,
                        None,
                        value_us,
                        None,
                        "<= 20 us",
                        None if value_us is None else value_us <= 20,
                        unit="us",
                    )
                )
    for name, count, limit, target in (
        ("edit-defs-small", sizes.defs[0], 1 / 20, "<= 1/20"),
        ("edit-defs-large", sizes.defs[1], 1 / 50, "<= 1/50"),
    ):
        if have(name):
            versus(f"one function edited, module of {count:,} definitions", name, limit, target)
    heap = f"{sizes.instances:,} instances + {sizes.unrelated:,} objects"
    if have("class-empty", "class-heap"):
        empty, full = hooks("class-empty", HOT), hooks("class-heap", HOT)
        ratio = _div(full, empty)
        table.rows.append(
            Row(
                "class method edited, empty heap",
                cell("class-empty"),
                hooks("class-empty", AUTO),
                empty,
                None,
                "(reference)",
                None,
            )
        )
        table.rows.append(
            Row(
                f"class method edited, {heap} (ratio: / empty heap)",
                cell("class-heap"),
                hooks("class-heap", AUTO),
                full,
                ratio,
                "<= 1.25 (same)",
                None if ratio is None else ratio <= 1.25,
            )
        )
        legacy = hooks("class-heap", AUTO_FULL)
        table.rows.append(
            Row(
                "  same, autoreload column = %autoreload 2 --full (legacy, as IPython 8)",
                None,
                legacy,
                full,
                _div(full, legacy),
                "(for scale)",
                None,
            )
        )
    if have("layout-one", "layout-many"):
        one, many = hooks("layout-one", HOT), hooks("layout-many", HOT)
        ratio = _div(many, one)
        table.rows.append(
            Row(
                f"base class changed, 1 class, {heap}",
                cell("layout-one"),
                hooks("layout-one", AUTO),
                one,
                _div(one, hooks("layout-one", AUTO)),
                "(reference)",
                None,
            )
        )
        table.rows.append(
            Row(
                f"base class changed, {sizes.layout_classes} classes (ratio: / 1 class)",
                cell("layout-many"),
                hooks("layout-many", AUTO),
                many,
                ratio,
                "<= 1.5 (1 scan)",
                None if ratio is None else ratio <= 1.5,
            )
        )
    few, many_count = sizes.importers
    if have("fanout-few"):
        updated = info_of(runs, "fanout-few", HOT, "importers_updated")
        auto_updated = info_of(runs, "fanout-few", AUTO, "importers_updated")
        versus(
            f"{few} modules `from base import helper`, base edited",
            "fanout-few",
            1.0,
            "<= 1",
            note=f"importers updated: hotreload {updated}, %autoreload {auto_updated}",
        )
    if have("fanout-few", "fanout-many"):
        hot_few, hot_many = hooks("fanout-few", HOT), hooks("fanout-many", HOT)
        ratio = _div(hot_many, hot_few)
        scale = many_count / few
        table.rows.append(
            Row(
                f"{many_count} importers (ratio: / {few}: linear = {scale:.0f})",
                cell("fanout-many"),
                hooks("fanout-many", AUTO),
                hot_many,
                ratio,
                f"<= {scale * 1.5:.1f} (linear)",
                None if ratio is None else ratio <= scale * 1.5,
            )
        )
    if have("memory-rss"):
        base_delta = median_of(runs, "memory-rss", NONE, "rss_delta") or 0.0
        rss = median_of(runs, "memory-rss", NONE, "rss")
        count = info_of(runs, "memory-rss", HOT, "sys_modules")

        def overhead(config: str) -> float | None:
            delta = median_of(runs, "memory-rss", config, "rss_delta")
            return None if delta is None else (delta - base_delta) / 2**20

        hot = overhead(HOT)
        table.rows.append(
            Row(
                f"memory: RSS added, {count} modules loaded (none = total RSS)",
                None if rss is None else rss / 2**20,
                overhead(AUTO),
                hot,
                None,
                "<= 2 MB",
                None if hot is None else hot <= 2.0,
                unit="MB",
            )
        )
    if have("memory-traced"):
        base = median_of(runs, "memory-traced", NONE, "traced") or 0.0

        def per_module(config: str) -> float | None:
            traced = median_of(runs, "memory-traced", config, "traced")
            tracked = median_of(runs, "memory-traced", config, "tracked")
            return _div(None if traced is None else traced - base, tracked)

        auto, hot = per_module(AUTO), per_module(HOT)
        estimate = info_of(runs, "memory-traced", HOT, "estimate_per_module")
        table.rows.append(
            Row(
                f"memory: bytes kept per tracked module, {users:,} user modules",
                None,
                auto,
                hot,
                _div(hot, auto),
                "reported",
                None,
                unit="B",
                note="" if estimate is None else f"Watcher.memory() estimate {estimate:.0f} B",
            )
        )
    if have("memory-growth"):
        reloads = sizes.growth_reloads

        def growth(config: str) -> float | None:
            value = median_of(runs, "memory-growth", config, "growth_traced")
            return None if value is None else value / 1024

        none, auto, hot = growth(NONE), growth(AUTO), growth(HOT)
        extra = None if hot is None or none is None else hot - none
        rss_hot = median_of(runs, "memory-growth", HOT, "growth_rss")
        table.rows.append(
            Row(
                f"memory: growth over {reloads:,} reloads of one module (tracemalloc)",
                none,
                auto,
                hot,
                None,
                "<= 64 KiB over none",
                None if extra is None else extra <= 64,
                unit="KiB",
                note="" if rss_hot is None else f"hotreload RSS growth {rss_hot / 1024:.0f} KiB",
            )
        )
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
    header = ("scenario", "none", "%autoreload 2", "hotreload", "ratio", "target", "met?")
    lines = [header, tuple("-" * 3 for _ in header)]
    for row in table.rows:
        met = "-" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            (
                row.label,
                fmt_value(row.none, row.unit),
                fmt_value(row.auto, row.unit),
                fmt_value(row.hot, row.unit),
                row.ratio_text or fmt_ratio(row.ratio),
                row.target,
                met,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        if number == 1:
            cells = ["-" * w for w in widths]
        else:
            cells = [
                text.ljust(w) if i == 0 else text.rjust(w)
                for i, (text, w) in enumerate(zip(line, widths, strict=True))
            ]
        print("| " + " | ".join(cells) + " |")
    notes = [f"- {row.label}: {row.note}" for row in table.rows if row.note]
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
        for metric in metrics:
            value = median_of(runs, scenario, config, metric)
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
