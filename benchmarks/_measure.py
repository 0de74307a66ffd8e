"""What one worker process measures: a real shell with one configuration, and the measurements.

The suite's parent (``suite.py``) sends each worker a spec: the scenario, its configuration,
round and parameters, the directories of the generated modules, and which ``run_*`` function
of this module to run. The worker (``python -m benchmarks._measure --worker SPEC``) builds a
:class:`Context` (a real ``InteractiveShell``), runs that function, and writes the samples it
recorded in ``ctx.metrics`` and the facts in ``ctx.info`` as JSON. It imports neither the
registry of scenarios nor the table: every module a worker imports from here is one more file
for the extensions it measures to watch.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import (
    AUTO,
    HOT,
    STDLIB_EXTRA,
    THIRD_PARTY,
    THIRD_PARTY_SUBMODULES,
    FileEdit,
    HookTimer,
    callbacks_before,
    load_configuration,
    make_shell,
    module_name,
    module_source,
)
from ._generated import (
    BASE,
    SHAPES,
    base_source,
    defs_expected,
    defs_name,
    defs_source,
    importer_name,
    layout_name,
    layout_source,
    shapes_source,
)


class Context:
    """One worker: a real shell with one configuration loaded, and its hook timer."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.config: str = spec["config"]
        self.params: dict[str, Any] = spec["params"]
        self.dirs: dict[str, str] = spec["dirs"]
        self.metrics: dict[str, list[float]] = {}
        self.info: dict[str, Any] = {}
        self.shell = make_shell()
        self.timer = HookTimer()
        self._before = callbacks_before(self.shell)

    def load(self) -> None:
        """Load the configuration and wrap the callbacks it registered in the timer."""
        self.info.update(load_configuration(self.shell, self.config))
        self.info["wrapped"] = self.timer.install(self.shell, self._before)

    def cell(self, code: str = "pass") -> dict[str, int]:
        """Run one cell; return its CPU/wall time and the time inside the extension's hooks."""
        self.timer.reset()
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        result = self.shell.run_cell(code)
        cell_cpu, cell_wall = time.thread_time_ns() - c0, time.perf_counter_ns() - w0
        if not result.success:
            raise RuntimeError(f"benchmark cell failed: {code[:80]!r}: {result.error_in_exec!r}")
        return {
            "cell_cpu": cell_cpu,
            "cell_wall": cell_wall,
            "hooks_cpu": sum(self.timer.cpu.values()),
            "hooks_wall": sum(self.timer.wall.values()),
        }

    def record(self, sample: dict[str, int], prefix: str = "") -> None:
        for key, value in sample.items():
            self.metrics.setdefault(prefix + key, []).append(value)

    def add(self, key: str, value: float) -> None:
        self.metrics.setdefault(key, []).append(value)

    def import_cell(self, names: Sequence[str]) -> None:
        for start in range(0, len(names), 500):
            self.cell("import " + ", ".join(names[start : start + 500]))

    def hotreload(self) -> Any:
        from hotreload_ext._extension import get_extension

        return get_extension(self.shell)


def heavy_names() -> list[str]:
    third_party = [name for name in THIRD_PARTY if importlib.util.find_spec(name) is not None]
    submodules = [n for n in THIRD_PARTY_SUBMODULES if n.split(".")[0] in third_party]
    return [*STDLIB_EXTRA, *third_party, *submodules]


def run_idle(ctx: Context) -> None:
    """Idle ``pass`` cells after importing user modules (and, if asked, heavy packages)."""
    ctx.load()
    names = [module_name(i) for i in range(ctx.params["users"])]
    if ctx.params.get("heavy"):
        names += heavy_names()
    ctx.import_cell(names)
    for _ in range(20):
        ctx.cell()
    extension = ctx.hotreload() if ctx.config.startswith("hotreload") else None
    notifier = getattr(getattr(extension, "reloader", None), "notifier", None)
    if notifier is not None:
        # The steady state: the watcher has started (until then every check polls).
        deadline = time.monotonic() + 30
        while notifier.reason is not None and time.monotonic() < deadline:
            time.sleep(0.01)
            ctx.cell()
    for _ in range(ctx.params["cells"]):
        ctx.record(ctx.cell())
    ctx.info["sys_modules"] = len(sys.modules)
    if extension is not None:
        ctx.info["watched"] = len(extension.reloader.watched)
        ctx.info["stat_floor"] = stat_floor([t.path for t in extension.reloader.watched.values()])
        watcher = extension.reloader.watcher
        ctx.info["speedups"] = watcher.speedups
        if ctx.params.get("python_loop") and watcher.speedups:
            # The same cells with the stat loop in Python: what an install without a C
            # compiler (or HOTRELOAD_SPEEDUPS=0) gets.
            watcher.speedups = False
            for _ in range(ctx.params["cells"]):
                ctx.record(ctx.cell(), prefix="python_loop_")
            watcher.speedups = True
    if notifier is not None:
        ctx.info["notifier_reason"] = notifier.reason


def stat_floor(paths: list[str], loops: int = 50) -> float:
    """CPU seconds of a bare loop of one ``os.stat`` per path (median).

    The floor of a polling loop written in Python; hotreload's C loop makes the same system
    calls without building a ``stat_result`` each, so it goes below it.
    """
    samples = []
    for _ in range(loops):
        started = time.thread_time()
        for path in paths:
            os.stat(path)
        samples.append(time.thread_time() - started)
    return statistics.median(samples)


def run_edit_defs(ctx: Context) -> None:
    """Edit one function in a module of many definitions; time the next cell each time."""
    count = ctx.params["defs"]
    name = defs_name(count)
    ctx.load()
    ctx.import_cell([name])
    for _ in range(3):  # deduperreload caches the source at the end of the first check
        ctx.cell()
    module = sys.modules[name]
    edit = FileEdit(Path(ctx.dirs["defs"]) / f"{name}.py")
    verified = 0
    try:
        for number in range(1, ctx.params["edits"] + 1):
            version = number % 2
            edit.write(defs_source(count, version))
            gc.collect()
            ctx.record(ctx.cell())
            func, expected = defs_expected(count, version)
            verified += getattr(module, func)(1) == expected
    finally:
        edit.restore()
    ctx.info["verified"] = f"{verified}/{ctx.params['edits']}"


def build_heap(ctx: Context, classes: Sequence[str], module: str) -> None:
    """Keep ``instances`` objects of ``classes`` and ``unrelated`` lists alive (user namespace)."""
    instances, unrelated = ctx.params["instances"], ctx.params["unrelated"]
    ctx.cell(
        f"import {module}\n"
        f"_kinds = [getattr({module}, n) for n in {list(classes)!r}]\n"
        f"_heap = [_kinds[i % len(_kinds)](i) for i in range({instances})]\n"
        f"_junk = [[i] for i in range({unrelated})]\n"
    )
    gc.collect()
    ctx.info["gc_objects"] = len(gc.get_objects())


def run_class_edit(ctx: Context) -> None:
    """Edit a method body of a class with many instances alive; time the next cell."""
    ctx.load()
    build_heap(ctx, ["Point"], SHAPES)
    for _ in range(3):
        ctx.cell()
    edit = FileEdit(Path(ctx.dirs["classes"]) / f"{SHAPES}.py")
    heap = ctx.shell.user_ns["_heap"]
    verified = 0
    try:
        for number in range(1, ctx.params["edits"] + 1):
            version = number % 2
            edit.write(shapes_source(version))
            gc.collect()  # a pending full collection is not the reload's cost
            ctx.record(ctx.cell())
            probe = heap[0] if heap else sys.modules[SHAPES].Point(0)
            verified += probe.value() == 1 + version
    finally:
        edit.restore()
    ctx.info["verified"] = f"{verified}/{ctx.params['edits']}"


CELL_CLASS = """\
class CellPoint:
    def __init__(self, x):
        self.x = x

    def value(self):
        return {value}
"""


def run_cell_class_edit(ctx: Context) -> None:
    """Run an edited class cell again with many instances of the class alive; time that cell.

    The work happens inside the cell (the class statement), not in a callback: the whole cell's
    CPU time is recorded, and the row subtracts what the cell costs with no extension.
    """
    ctx.load()
    ctx.cell(CELL_CLASS.format(value=1))
    instances, unrelated = ctx.params["instances"], ctx.params["unrelated"]
    ctx.cell(
        f"_heap = [CellPoint(i) for i in range({instances})]\n"
        f"_junk = [[i] for i in range({unrelated})]\n"
    )
    gc.collect()
    ctx.info["gc_objects"] = len(gc.get_objects())
    heap = ctx.shell.user_ns["_heap"]
    verified = 0
    for number in range(1, ctx.params["edits"] + 1):
        version = number % 2
        gc.collect()  # a pending full collection is not the redefinition's cost
        ctx.record(ctx.cell(CELL_CLASS.format(value=1 + version)))
        verified += bool(heap) and heap[0].value() == 1 + version
    # Without hotreload the old instances keep the first class (value 1): only the edits back
    # to that value "reach" them.
    ctx.info["verified"] = f"{verified}/{ctx.params['edits']}"


def run_layout_edit(ctx: Context) -> None:
    """Change the base class of several classes with many instances; time the next cell."""
    count = ctx.params["classes"]
    name = layout_name(count)
    ctx.load()
    build_heap(ctx, [f"Shape{i}" for i in range(count)], name)
    for _ in range(3):
        ctx.cell()
    edit = FileEdit(Path(ctx.dirs["classes"]) / f"{name}.py")
    heap = ctx.shell.user_ns["_heap"]
    verified = 0
    try:
        for number in range(1, ctx.params["edits"] + 1):
            version = number % 2
            edit.write(layout_source(count, version))
            gc.collect()
            ctx.record(ctx.cell())
            module = sys.modules[name]
            tag = "b" if version else "a"
            sample = heap[:: max(1, len(heap) // 50)]
            verified += all(
                type(obj) is getattr(module, type(obj).__name__) and obj.tag() == tag
                for obj in sample
            )
    finally:
        edit.restore()
    ctx.info["verified"] = f"{verified}/{ctx.params['edits']}"


def run_fanout(ctx: Context) -> None:
    """Many modules do ``from base import helper``; edit ``base`` so ``helper`` is a new object."""
    count = ctx.params["importers"]
    ctx.load()
    ctx.import_cell([BASE] + [importer_name(i) for i in range(count)])
    for _ in range(3):
        ctx.cell()
    edit = FileEdit(Path(ctx.dirs["fanout"]) / f"{BASE}.py")
    importers = [sys.modules[importer_name(i)] for i in range(count)]
    fresh = []
    try:
        for number in range(1, ctx.params["edits"] + 1):
            version = number % 2
            edit.write(base_source(version))
            gc.collect()
            ctx.record(ctx.cell())
            k = 1 + version
            fresh.append(
                sum(getattr(m, f"use_{i:04d}")(3) == 3 * k + i for i, m in enumerate(importers))
            )
    finally:
        edit.restore()
    ctx.info["importers_updated"] = f"{min(fresh)}/{count}"
    extension = ctx.hotreload() if ctx.config == HOT else None
    if extension is not None and extension.reloader.history:
        ctx.info["rebound"] = len(getattr(extension.reloader.history[-1], "rebound", ()))


def run_dask_push(ctx: Context) -> None:
    """Edit a module the four workers of a Dask cluster use: until when do all run the edit?

    Each edit's figure is wall time from the start of the cell after the save (the kernel's
    reload and the push to every worker) until a task on each of the four workers has returned
    the new value.
    """
    from distributed import Client, LocalCluster

    count = ctx.params["defs"]
    name = defs_name(count)
    workers_wanted = ctx.params["workers"]
    ctx.load()
    ctx.import_cell([name])
    module = sys.modules[name]
    edit = FileEdit(Path(ctx.dirs["defs"]) / f"{name}.py")
    with (
        LocalCluster(
            n_workers=workers_wanted,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        workers = sorted(client.scheduler_info()["workers"])
        func, _ = defs_expected(count, 0)

        def on_each() -> set[int]:
            futures = [
                client.submit(getattr(module, func), 1, workers=[w], pure=False) for w in workers
            ]
            return {future.result() for future in futures}

        on_each()  # every worker imports the module before the first edit
        verified = 0
        try:
            for number in range(ctx.params["edits"] + 1):
                version = (number + 1) % 2
                edit.write(defs_source(count, version))
                gc.collect()
                w0 = time.perf_counter_ns()
                sample = ctx.cell()
                seen = on_each()
                ready = time.perf_counter_ns() - w0
                if number:  # the first push also imports the Dask adapter: a warm-up
                    ctx.record(sample)
                    ctx.add("dask_ready_wall", ready)
                verified += seen == {defs_expected(count, version)[1]}
        finally:
            edit.restore()
        ctx.info["workers"] = len(workers)
        ctx.info["verified"] = f"{verified}/{ctx.params['edits'] + 1}"


def rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_memory_rss(ctx: Context) -> None:
    """RSS the configuration adds once ~7,000 modules are loaded (same process, before/after)."""
    names = [module_name(i) for i in range(ctx.params["users"])] + heavy_names()
    ctx.import_cell(names)
    for _ in range(5):
        ctx.cell()
    gc.collect()
    before = rss_bytes()
    ctx.load()
    for _ in range(5):  # hotreload watches at load; autoreload records and caches in the cells
        ctx.cell()
    gc.collect()
    after = rss_bytes()
    ctx.add("rss_delta", after - before)
    ctx.add("rss", after)
    ctx.info["sys_modules"] = len(sys.modules)


def run_memory_traced(ctx: Context) -> None:
    """Bytes the configuration keeps per module it tracks, by tracemalloc."""
    import tracemalloc

    ctx.import_cell([module_name(i) for i in range(ctx.params["users"])])
    ctx.cell()
    # Import the extension's code first: the figure is what it keeps per module, not its size.
    if ctx.config == HOT:
        importlib.import_module("hotreload_ext._extension")
        importlib.import_module("hotreload_ext._magics")
    elif ctx.config == AUTO:
        importlib.import_module("IPython.extensions.autoreload")
    gc.collect()
    tracemalloc.start()
    ctx.load()
    for _ in range(5):
        ctx.cell()
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    ctx.add("traced", traced)
    tracked = 0
    if ctx.config == HOT:
        reloader = ctx.hotreload().reloader
        tracked = len(reloader.watched)
        ctx.info["estimate_per_module"] = reloader.watcher.memory() / max(1, tracked)
    elif ctx.config == AUTO:
        reloader = ctx.shell.magics_manager.registry["AutoreloadMagics"]._reloader
        tracked = len(reloader.modules_mtimes)
        ctx.info["deduper_sources"] = len(reloader.deduper_reloader.source_by_modname)
    ctx.add("tracked", tracked)


def run_memory_growth(ctx: Context) -> None:
    """Memory kept after many reloads of the same module (tracemalloc and RSS)."""
    import tracemalloc

    users = ctx.params["users"]
    ctx.load()
    if ctx.config == HOT:
        # IPython 9 keeps every line a cell prints in its output history (HistoryOutput), so
        # hotreload's one report line per reload (~100 bytes) would grow it as any print does.
        # That is IPython's to keep; what is measured here is what hotreload itself keeps.
        ctx.shell.run_line_magic("hotreload", "verbosity quiet")
    ctx.import_cell([module_name(i) for i in range(users)])
    index = users // 2
    edit = FileEdit(Path(ctx.dirs["users"]) / f"{module_name(index)}.py")
    module = sys.modules[module_name(index)]
    reloads = ctx.params["reloads"]
    verified = 0
    try:

        def reload_once(number: int) -> None:
            nonlocal verified
            version = number % 2
            edit.write(module_source(index, version))
            ctx.cell()
            verified += getattr(module, f"helper_{index:04d}")(index) == index * index + 1 + version

        # Tracing starts before the warm-up: tracemalloc counts the objects that steady-state
        # structures (report history, linecache, the kept parse) replace after the start, but
        # not the ones they free from before it, so a window starting cold would show their
        # whole size as growth. After 50 warm reloads they are all traced objects.
        tracemalloc.start()
        for number in range(1, 51):
            reload_once(number)
        gc.collect()
        traced0, rss0 = tracemalloc.get_traced_memory()[0], rss_bytes()
        for number in range(51, 51 + reloads):
            reload_once(number)
        gc.collect()
        traced1, rss1 = tracemalloc.get_traced_memory()[0], rss_bytes()
        tracemalloc.stop()
    finally:
        edit.restore()
    ctx.add("growth_traced", traced1 - traced0)
    ctx.add("growth_rss", rss1 - rss0)
    ctx.info["verified"] = f"{verified}/{reloads + 50}"


def run_notify_component(ctx: Context) -> None:
    """hotreload's ChangeNotifier on its own: idle drain(), and drain() + Watcher.discover()."""
    from hotreload_ext import Reloader
    from hotreload_ext._notify import ChangeNotifier, is_available

    ctx.import_cell([module_name(i) for i in range(ctx.params["users"])])
    reloader = Reloader()
    reloader.discover()
    dirs = {os.path.dirname(t.path) for t in reloader.watched.values()}
    ctx.info["watched"] = len(reloader.watched)
    ctx.info["directories"] = len(dirs)
    if not is_available():
        ctx.info["skipped"] = "watchfiles is not installed"
        return
    notifier = ChangeNotifier()
    notifier.start(dirs)
    deadline = time.monotonic() + 30
    while notifier.drain() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if notifier.reason is not None or notifier.drain() is None:
        ctx.info["skipped"] = f"the notifier did not start: {notifier.reason}"
        return
    batch = 1000
    for _ in range(ctx.params["cells"]):
        c0 = time.thread_time_ns()
        for _ in range(batch):
            notifier.drain()
        ctx.add("drain_cpu", (time.thread_time_ns() - c0) / batch)
        c0 = time.thread_time_ns()
        for _ in range(10):
            notifier.drain()
            reloader.discover()
        ctx.add("drain_discover_cpu", (time.thread_time_ns() - c0) / 10)
    # What the background thread costs while idle: the process's CPU minus the main thread's.
    p0, t0 = time.process_time_ns(), time.thread_time_ns()
    time.sleep(2.0)
    background = (time.process_time_ns() - p0) - (time.thread_time_ns() - t0)
    ctx.info["background_cpu_ms_per_s"] = background / 2.0 / 1e6
    # An edit must show up: the latency from write to drain (wall time).
    path = Path(ctx.dirs["users"]) / f"{module_name(0)}.py"
    edit = FileEdit(path)
    latencies = []
    try:
        for number in range(1, 6):
            edit.write(module_source(0, number % 2))
            w0 = time.perf_counter()
            seen: set[str] = set()
            while str(path) not in seen and time.perf_counter() - w0 < 10:
                seen |= notifier.drain() or set()
                time.sleep(0.001)
            latencies.append((time.perf_counter() - w0) * 1000)
    finally:
        edit.restore()
        notifier.stop()
    ctx.info["latency_ms"] = [round(x, 1) for x in latencies]


# --- the worker's entry point ------------------------------------------------------------------
def worker(spec_path: str) -> None:
    """Run the measurement a spec names in this (fresh) process and write its results as JSON."""
    spec = json.loads(Path(spec_path).read_text())
    for directory in spec["dirs"].values():
        sys.path.insert(0, directory)
    measure = globals()[spec["measure"]]
    ctx = Context(spec)
    measure(ctx)
    result = {
        "scenario": spec["scenario"],
        "config": spec["config"],
        "round": spec["round"],
        "metrics": ctx.metrics,
        "info": ctx.info,
    }
    Path(spec["out"]).write_text(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="One worker of the speed suite (suite.py).")
    parser.add_argument("--worker", required=True, metavar="SPEC", help="the spec's JSON file")
    worker(parser.parse_args().worker)
