"""The suite's scenarios: for each, what a worker measures and the table rows it reports.

A scenario names a measurement of ``_measure.py``, the configurations it runs in, its parameters
at the chosen sizes, and the rows of the results table it fills (``_rows.Row``), in table order.
Adding a scenario is one entry in :data:`SCENARIOS` (and a ``run_*`` function in ``_measure.py``
when no existing one measures it); ``_table.py`` renders the rows of all of them with one loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._common import ALL, AUTO, AUTO_FULL, HOT, HOT_NOTIFY, NONE
from ._generated import Sizes
from ._measure import (
    Context,
    run_cell_class_edit,
    run_class_edit,
    run_dask_push,
    run_edit_defs,
    run_fanout,
    run_idle,
    run_layout_edit,
    run_memory_growth,
    run_memory_rss,
    run_memory_traced,
    run_notify_component,
)
from ._rows import (
    Row,
    Value,
    View,
    at_most,
    cell,
    difference,
    divide,
    hooks,
    metric,
    quotient,
    relative,
    scaled,
    versus,
)


@dataclass(frozen=True)
class Scenario:
    """One measurement of the suite and the rows it reports.

    Attributes:
        name: Its name (``--only`` matches part of it).
        title: What it measures (``--list``).
        run: The ``_measure.py`` function a worker runs.
        configs: The configurations it runs in (``_common.NONE``, ``AUTO``, ...).
        params: The worker's parameters, at the suite's sizes.
        rows: The table rows it reports at the suite's sizes, in table order; a row that also
            reads another scenario names it in ``Row.needs``.
        max_rounds: At most this many rounds (for the slow memory scenarios).
        requires: ``"notify-mode"``: skipped unless ``HotReload.detection`` accepts ``notify``;
            ``"dask"``: skipped unless ``distributed`` is installed.
    """

    name: str
    title: str
    run: Callable[[Context], None]
    configs: tuple[str, ...]
    params: Callable[[Sizes], dict[str, Any]]
    rows: Callable[[Sizes], tuple[Row, ...]] = lambda sizes: ()
    max_rounds: int = 99
    requires: str = ""


# --- what some rows compute --------------------------------------------------------------------
def _stat_floor_ms(view: View) -> float | None:
    floor = view.info(HOT, "stat_floor")
    return floor * 1000 if isinstance(floor, float) else None


def _rss_added(config: str) -> Value:
    """MiB of RSS that loading ``config`` added, minus what loading nothing added."""

    def value(view: View) -> float | None:
        base = view.median(NONE, "rss_delta") or 0.0
        delta = view.median(config, "rss_delta")
        return None if delta is None else (delta - base) / 2**20

    return value


def _kept_per_module(config: str) -> Value:
    """Bytes ``config`` keeps (traced, minus the run with nothing) per module it tracks."""

    def value(view: View) -> float | None:
        base = view.median(NONE, "traced") or 0.0
        traced = view.median(config, "traced")
        return divide(None if traced is None else traced - base, view.median(config, "tracked"))

    return value


def _estimate_note(view: View) -> str:
    estimate = view.info(HOT, "estimate_per_module")
    return "" if estimate is None else f"Watcher.memory() estimate {estimate:.0f} B"


def _growth_rss_note(view: View) -> str:
    rss = view.median(HOT, "growth_rss")
    return "" if rss is None else f"hotreload RSS growth {rss / 1024:.0f} KiB"


def _importers_note(view: View) -> str:
    hot, auto = view.info(HOT, "importers_updated"), view.info(AUTO, "importers_updated")
    return f"importers updated: hotreload {hot}, %autoreload {auto}"


def _dask_note(view: View) -> str:
    verified = view.info(HOT, "verified")
    return "" if verified is None else f"Dask edits seen on every worker: {verified}"


def _heap(s: Sizes) -> str:
    return f"{s.instances:,} instances + {s.unrelated:,} objects"


def _fanout_many_rows(s: Sizes) -> tuple[Row, ...]:
    few, many = s.importers
    scale = many / few
    label = f"{many} importers (ratio: / {few}: linear = {scale:.0f})"
    return (relative(label, "fanout-few", scale * 1.5, f"<= {scale * 1.5:.1f} (linear)"),)


def _growth(config: str) -> Value:
    """KiB of traced memory kept over the timed reloads."""
    return metric(config, "growth_traced", 1024)


# --- the registry, in table order --------------------------------------------------------------
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "idle-users",
            "idle cell, 200 user modules",
            run_idle,
            ALL,
            lambda s: {"users": 200, "cells": s.cells},
            # Its row is idle-heavy's second: how flat hotreload's cost is in non-user modules.
        ),
        Scenario(
            "idle-heavy",
            "idle cell, heavy packages + 200 user modules",
            run_idle,
            ALL,
            lambda s: {"users": 200, "heavy": True, "cells": s.cells},
            rows=lambda s: (
                versus(
                    lambda v: (
                        f"idle cell, heavy + 200 user modules"
                        f" ({v.info(AUTO, 'sys_modules')} in sys.modules)"
                    ),
                    1 / 20,
                    "<= 1/20",
                ),
                Row(
                    "idle cell, 200 user modules only (flat: heavy / this)",
                    hot=hooks(HOT, "idle-users"),
                    none=cell("idle-users"),
                    auto=hooks(AUTO, "idle-users"),
                    ratio=quotient(hooks(HOT), hooks(HOT, "idle-users")),
                    target="<= 1.25 (flat)",
                    limit=1.25,
                    needs=("idle-users",),
                ),
            ),
        ),
        Scenario(
            "idle-many",
            "idle cell, many user modules, polling (also with the Python stat loop)",
            run_idle,
            ALL,
            lambda s: {"users": s.users, "cells": s.cells, "python_loop": True},
            rows=lambda s: (
                versus(f"idle cell, {s.users:,} user modules, polling", 1 / 3, "<= 1/3"),
                Row(
                    "  same, with the Python stat loop (no C compiler at install)",
                    hot=metric(HOT, "python_loop_hooks_cpu", 1e6),
                    ratio=quotient(metric(HOT, "python_loop_hooks_cpu", 1e6), hooks(AUTO)),
                    optional=True,
                ),
                Row(
                    "  floor of a Python loop: one os.stat per watched file",
                    hot=_stat_floor_ms,
                    ratio=quotient(_stat_floor_ms, hooks(AUTO)),
                    optional=True,
                ),
            ),
        ),
        Scenario(
            "idle-many-heavy",
            "idle cell, heavy packages + many user modules, polling",
            run_idle,
            ALL,
            lambda s: {"users": s.users, "heavy": True, "cells": s.cells},
            rows=lambda s: (
                versus(
                    lambda v: (
                        f"idle cell, heavy + {s.users:,} user modules"
                        f" ({v.info(AUTO, 'sys_modules')} in sys.modules), polling"
                    ),
                    1 / 3,
                    "<= 1/3",
                ),
            ),
        ),
        Scenario(
            "idle-notify-few",
            "idle cell, 200 user modules, notify mode",
            run_idle,
            (HOT_NOTIFY,),
            lambda s: {"users": 200, "cells": s.cells},
            rows=lambda s: (
                at_most(
                    "idle cell, 200 user modules, notify mode",
                    scaled(hooks(HOT_NOTIFY), 1000),
                    20,
                    "us",
                ),
            ),
            requires="notify-mode",
        ),
        Scenario(
            "idle-notify-many",
            "idle cell, many user modules, notify mode",
            run_idle,
            (HOT_NOTIFY,),
            lambda s: {"users": s.users, "cells": s.cells},
            rows=lambda s: (
                at_most(
                    f"idle cell, {s.users:,} user modules, notify mode",
                    scaled(hooks(HOT_NOTIFY), 1000),
                    20,
                    "us",
                ),
            ),
            requires="notify-mode",
        ),
        Scenario(
            "notify-component",
            "ChangeNotifier.drain() on its own",
            run_notify_component,
            (HOT,),
            lambda s: {"users": s.users, "cells": 50},
            rows=lambda s: (
                at_most(
                    f"notify collector alone: drain(), {s.users:,} modules",
                    metric(HOT, "drain_cpu", 1000),
                    20,
                    "us",
                ),
                at_most(
                    f"notify collector alone: drain() + Watcher.discover(), {s.users:,} modules",
                    metric(HOT, "drain_discover_cpu", 1000),
                    20,
                    "us",
                ),
            ),
        ),
        Scenario(
            "edit-defs-small",
            "one function edited, module of many definitions",
            run_edit_defs,
            ALL,
            lambda s: {"defs": s.defs[0], "edits": s.edits},
            rows=lambda s: (
                versus(
                    f"one function edited, module of {s.defs[0]:,} definitions", 1 / 20, "<= 1/20"
                ),
            ),
        ),
        Scenario(
            "edit-defs-large",
            "one function edited, module of many definitions",
            run_edit_defs,
            ALL,
            lambda s: {"defs": s.defs[1], "edits": s.edits},
            rows=lambda s: (
                versus(
                    f"one function edited, module of {s.defs[1]:,} definitions", 1 / 50, "<= 1/50"
                ),
            ),
        ),
        Scenario(
            "class-empty",
            "class method edited, empty heap",
            run_class_edit,
            (NONE, AUTO, AUTO_FULL, HOT),
            lambda s: {"instances": 0, "unrelated": 0, "edits": s.edits},
            rows=lambda s: (
                # The reference of class-heap's row: shown with it.
                Row(
                    "class method edited, empty heap",
                    hot=hooks(HOT),
                    none=cell(),
                    auto=hooks(AUTO),
                    target="(reference)",
                    needs=("class-heap",),
                ),
            ),
        ),
        Scenario(
            "class-heap",
            "class method edited, big heap",
            run_class_edit,
            (NONE, AUTO, AUTO_FULL, HOT),
            lambda s: {"instances": s.instances, "unrelated": s.unrelated, "edits": s.edits},
            rows=lambda s: (
                relative(
                    f"class method edited, {_heap(s)} (ratio: / empty heap)",
                    "class-empty",
                    1.25,
                    "<= 1.25 (same)",
                ),
                Row(
                    "  same, autoreload column = %autoreload 2 --full (legacy, as IPython 8)",
                    hot=hooks(HOT),
                    auto=hooks(AUTO_FULL),
                    ratio=quotient(hooks(HOT), hooks(AUTO_FULL)),
                    needs=("class-empty",),
                ),
            ),
        ),
        Scenario(
            "class-cell-heap",
            "class redefined by running its cell again, big heap",
            run_cell_class_edit,
            (NONE, HOT),
            lambda s: {"instances": s.instances, "unrelated": s.unrelated, "edits": s.edits},
            rows=lambda s: (
                Row(
                    f"class cell run again, {_heap(s)} (cell - plain cell; ratio: / file edit)",
                    hot=difference(metric(HOT, "cell_cpu", 1e6), cell()),
                    none=cell(),
                    ratio=quotient(
                        difference(metric(HOT, "cell_cpu", 1e6), cell()), hooks(HOT, "class-heap")
                    ),
                    target="<= 2 (about a file edit)",
                    limit=2,
                    needs=("class-heap",),
                ),
            ),
        ),
        Scenario(
            "layout-one",
            "base class changed, 1 class, big heap",
            run_layout_edit,
            ALL,
            lambda s: {
                "classes": 1,
                "instances": s.instances,
                "unrelated": s.unrelated,
                "edits": s.edits,
            },
            rows=lambda s: (
                # The reference of layout-many's row: shown with it.
                versus(f"base class changed, 1 class, {_heap(s)}", needs=("layout-many",)),
            ),
        ),
        Scenario(
            "layout-many",
            "base class changed, several classes, big heap",
            run_layout_edit,
            ALL,
            lambda s: {
                "classes": s.layout_classes,
                "instances": s.instances,
                "unrelated": s.unrelated,
                "edits": s.edits,
            },
            rows=lambda s: (
                relative(
                    f"base class changed, {s.layout_classes} classes (ratio: / 1 class)",
                    "layout-one",
                    1.5,
                    "<= 1.5 (1 scan)",
                ),
            ),
        ),
        Scenario(
            "fanout-few",
            "importers of base, base edited",
            run_fanout,
            ALL,
            lambda s: {"importers": s.importers[0], "edits": s.edits},
            rows=lambda s: (
                versus(
                    f"{s.importers[0]} modules `from base import helper`, base edited",
                    1.0,
                    "<= 1",
                    note=_importers_note,
                ),
            ),
        ),
        Scenario(
            "fanout-many",
            "importers of base, base edited",
            run_fanout,
            ALL,
            lambda s: {"importers": s.importers[1], "edits": s.edits},
            rows=_fanout_many_rows,
        ),
        Scenario(
            "dask-push",
            "an edit reaches the four workers of a local Dask cluster",
            run_dask_push,
            (HOT,),
            lambda s: {"defs": s.defs[0], "edits": s.edits, "workers": 4},
            rows=lambda s: (
                Row(
                    f"Dask: cell start until 4 workers run an edit (module of {s.defs[0]:,} defs)",
                    hot=metric(HOT, "dask_ready_wall", 1e6),
                    target="reported (wall)",
                    note=_dask_note,
                ),
                Row(
                    "  of which the cell: kernel reload + push to every worker (wall)",
                    hot=metric(HOT, "cell_wall", 1e6),
                    target="(for scale)",
                ),
            ),
            max_rounds=1,
            requires="dask",
        ),
        Scenario(
            "memory-rss",
            "RSS added by the extension, heavy + many user modules",
            run_memory_rss,
            ALL,
            lambda s: {"users": s.users},
            rows=lambda s: (
                Row(
                    lambda v: (
                        f"memory: RSS added, {v.info(HOT, 'sys_modules')} modules loaded"
                        " (none = total RSS)"
                    ),
                    hot=_rss_added(HOT),
                    none=metric(NONE, "rss", 2**20),
                    auto=_rss_added(AUTO),
                    target="<= 2 MB",
                    limit=2.0,
                    checked=_rss_added(HOT),
                    unit="MB",
                ),
            ),
        ),
        Scenario(
            "memory-traced",
            "bytes kept per tracked module (tracemalloc)",
            run_memory_traced,
            ALL,
            lambda s: {"users": s.users},
            rows=lambda s: (
                Row(
                    f"memory: bytes kept per tracked module, {s.users:,} user modules",
                    hot=_kept_per_module(HOT),
                    auto=_kept_per_module(AUTO),
                    ratio=quotient(_kept_per_module(HOT), _kept_per_module(AUTO)),
                    target="reported",
                    unit="B",
                    note=_estimate_note,
                ),
            ),
            max_rounds=1,
        ),
        Scenario(
            "memory-growth",
            "memory growth across reloads of one module",
            run_memory_growth,
            ALL,
            lambda s: {"users": 50, "reloads": s.growth_reloads},
            rows=lambda s: (
                Row(
                    f"memory: growth over {s.growth_reloads:,} reloads of one module (tracemalloc)",
                    hot=_growth(HOT),
                    none=_growth(NONE),
                    auto=_growth(AUTO),
                    target="<= 64 KiB over none",
                    limit=64,
                    checked=difference(_growth(HOT), _growth(NONE)),
                    unit="KiB",
                    note=_growth_rss_note,
                ),
            ),
            max_rounds=1,
        ),
    )
}


def notify_mode_available() -> bool:
    """Whether the extension has a ``HotReload.detection`` trait that accepts ``"notify"``."""
    try:
        from hotreload_ext._config import HotReload
    except ImportError:
        return False
    trait = HotReload.class_traits().get("detection")
    return "notify" in (getattr(trait, "values", None) or ())


def dask_available() -> bool:
    """Whether ``distributed`` (the ``dask`` extra) is installed for the Dask scenario."""
    import importlib.util

    return importlib.util.find_spec("distributed") is not None
