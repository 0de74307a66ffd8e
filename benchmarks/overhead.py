"""Per-cell overhead of hotreload next to IPython's ``%autoreload 2``, measured side by side.

Run from the repository root::

    .venv/bin/python -m benchmarks.overhead [--modules 500] [--cells 300] [--rounds 5]

The parent process generates ``--modules`` small user modules into a temporary directory, then
runs every measurement in a fresh worker subprocess (this same module with ``--worker``), in rounds
of ``none, autoreload, hotreload`` so that drift on a shared, noisy machine hits every
configuration alike. Each worker builds a real in-process ``InteractiveShell``, loads its
configuration, imports the modules in a cell (and, in the ``heavy`` scenario, a set of non-user
packages), warms up, and then times idle ``pass`` cells:

* the whole ``shell.run_cell("pass")`` (wall and CPU), and
* only the callbacks the extension registered (``pre_run_cell``, ``post_run_cell``,
  ``post_execute``), each wrapped by a timer, so the extension's cost is isolated from IPython's
  own per-cell work.

Workers of the ``user`` scenario also time the cell right after an edit (one function of one
module, alternating between two versions), and the ``--profile`` option adds a cProfile of the
hooks. Results are printed as tables of medians, p90s and ratios, and the raw samples are written
to ``benchmarks/_results/`` (git-ignored). Nothing here asserts a speed: it reports figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import _common
from ._common import (
    CONFIGS,
    LABELS,
    ROOT,
    STDLIB_EXTRA,
    THIRD_PARTY,
    HookTimer,
    callbacks_before,
    compile_extensions,
    cpu_model,
    filesystem_of,
    generate_modules,
    load_configuration,
    make_shell,
    module_name,
    module_source,
    source_revision,
    version_of,
    worker_env,
)

SCENARIOS = ("user", "heavy")


# --- the worker: one configuration in one fresh process ----------------------------------------
class Samples:
    """Per-cell samples (nanoseconds) of one phase of a worker."""

    def __init__(self) -> None:
        self.data: dict[str, list[int]] = {}

    def add(self, **values: int) -> None:
        for key, value in values.items():
            self.data.setdefault(key, []).append(value)


def run_cell(shell: Any, timer: HookTimer, samples: Samples, code: str = "pass") -> None:
    """Run one cell and record its total time and the time spent in the wrapped hooks."""
    timer.reset()
    w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
    result = shell.run_cell(code)
    cell_cpu, cell_wall = time.thread_time_ns() - c0, time.perf_counter_ns() - w0
    if not result.success:
        raise RuntimeError(f"benchmark cell failed: {code[:80]!r}: {result.error_in_exec!r}")
    samples.add(
        cell_wall=cell_wall,
        cell_cpu=cell_cpu,
        hooks_wall=sum(timer.wall.values()),
        hooks_cpu=sum(timer.cpu.values()),
        pre_wall=timer.wall["pre_run_cell"] + timer.wall["pre_execute"],
        post_wall=timer.wall["post_execute"] + timer.wall["post_run_cell"],
    )


def median_ns(action: Callable[[], object], repeat: int) -> int:
    """Median wall time of calling ``action`` directly, outside any cell."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        action()
        times.append(time.perf_counter_ns() - t0)
    return int(statistics.median(times))


def stat_all(paths: Sequence[str]) -> None:
    for path in paths:
        os.stat(path)


def breakdown(shell: Any, config: str, repeat: int) -> tuple[dict[str, int], dict[str, int]]:
    """Time the pieces of each extension's idle hooks directly, and the bare ``stat`` floor."""
    timings: dict[str, int] = {}
    counts: dict[str, int] = {}
    if config == "hotreload":
        from hotreload_ext._extension import get_extension

        extension = get_extension(shell)
        assert extension is not None
        reloader = extension.reloader
        paths = [t.path for t in reloader.watched.values()]
        counts["watched"] = len(paths)
        timings["Reloader.check()"] = median_ns(reloader.check, repeat)
        timings["Watcher.poll()"] = median_ns(reloader.watcher.poll, repeat)
        timings["Watcher.discover()"] = median_ns(reloader.discover, repeat)
        timings["os.stat of every watched file"] = median_ns(lambda: stat_all(paths), repeat)
    elif config == "autoreload":
        magics = shell.magics_manager.registry["AutoreloadMagics"]
        reloader = magics._reloader
        # What check() stats: every module in sys.modules with a source file.
        paths = []
        for module in list(sys.modules.values()):
            path, _ = reloader.filename_and_mtime(module)
            if path is not None:
                paths.append(path)
        counts["stated"] = len(paths)
        timings["ModuleReloader.check()"] = median_ns(reloader.check, repeat)
        timings["post_execute_hook()"] = median_ns(magics.post_execute_hook, repeat)
        timings["deduper update_sources()"] = median_ns(
            reloader.deduper_reloader.update_sources, repeat
        )
        timings["os.stat of every checked file"] = median_ns(lambda: stat_all(paths), repeat)
    return timings, counts


def measure_reloads(shell: Any, timer: HookTimer, spec: dict[str, Any]) -> dict[str, Any]:
    """Edit one function of one module, alternating two versions; time the next cell each time.

    The file is restored (content and mtime) afterwards, so every worker starts from the same
    tree. Each edit moves the mtime forward by whole seconds from its old value, which stays
    minutes in the past: autoreload needs a strictly newer mtime, and hotreload must not see the
    file as racily clean.
    """
    index = spec["modules"] // 2
    name = module_name(index)
    path = Path(spec["moddir"]) / f"{name}.py"
    original = path.read_bytes()
    original_ns = path.stat().st_mtime_ns
    module = sys.modules[name]
    held = getattr(module, f"helper_{index:04d}")  # an old reference, as a user would hold
    samples = Samples()
    verified = held_verified = 0
    try:
        for edit in range(1, spec["edits"] + 1):
            version = edit % 2
            path.write_text(module_source(index, version), encoding="utf-8")
            stamp = original_ns + edit * 10**9
            os.utime(path, ns=(stamp, stamp))
            run_cell(shell, timer, samples)
            expected = index * index + 1 + version
            verified += getattr(module, f"helper_{index:04d}")(index) == expected
            held_verified += held(index) == expected
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(original_ns, original_ns))
    return {
        "module": name,
        "samples": samples.data,
        "edits": spec["edits"],
        "verified": verified,
        "old_reference_verified": held_verified,
    }


def worker(spec_path: str) -> None:
    """Measure one configuration in this (fresh) process and write the results as JSON."""
    spec = json.loads(Path(spec_path).read_text())
    sys.path.insert(0, spec["moddir"])
    shell = make_shell()
    before = callbacks_before(shell)
    result: dict[str, Any] = {key: spec[key] for key in ("config", "scenario", "round")}
    result.update(load_configuration(shell, spec["config"]))
    timer = HookTimer()
    result["wrapped"] = timer.install(shell, before)

    # Import everything in a cell, as a user would after loading the extension; this first cell
    # and the one after it pay one-time costs (recording mtimes, reading sources), kept apart.
    names = [module_name(i) for i in range(spec["modules"])]
    if spec["scenario"] == "heavy":
        names += spec["heavy"]
    first = Samples()
    run_cell(shell, timer, first, "import " + ", ".join(names))
    run_cell(shell, timer, first)
    result["first_cells"] = first.data
    for _ in range(spec["warmup"]):
        run_cell(shell, timer, Samples())

    idle = Samples()
    if spec.get("profile"):
        import cProfile

        timer.profiler = cProfile.Profile()
    process0 = time.process_time_ns()
    for _ in range(spec["cells"]):
        run_cell(shell, timer, idle)
    result["process_cpu_per_cell"] = (time.process_time_ns() - process0) / spec["cells"]
    result["idle"] = idle.data
    if timer.profiler is not None:
        import io
        import pstats

        stream = io.StringIO()
        stats = pstats.Stats(timer.profiler, stream=stream)
        stats.strip_dirs().sort_stats("tottime").print_stats(spec["profile"])
        result["profile"] = stream.getvalue()
        timer.profiler = None

    result["breakdown"], counts = breakdown(shell, spec["config"], spec["cells"])
    user_files = {os.path.realpath(p) for p in Path(spec["moddir"]).glob("*.py")}
    result["counts"] = {
        "sys_modules": len(sys.modules),
        "user_modules": sum(
            1
            for m in list(sys.modules.values())
            if os.path.realpath(getattr(m, "__file__", None) or "") in user_files
        ),
        **counts,
    }
    if spec["scenario"] == "user" and spec["config"] != "none" and spec["edits"]:
        result["reload"] = measure_reloads(shell, timer, spec)
    Path(spec["out"]).write_text(json.dumps(result))


# --- the parent: orchestration, statistics, report ---------------------------------------------
def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(values: Sequence[int]) -> dict[str, float]:
    """Median and p90 in milliseconds."""
    return {"median": statistics.median(values) / 1e6, "p90": quantile(values, 0.9) / 1e6}


def pooled(runs: list[dict[str, Any]], phase: str, key: str) -> list[int]:
    values: list[int] = []
    for run in runs:
        container = run.get(phase, {})
        if phase == "reload":
            container = container.get("samples", {})
        values += container.get(key, [])
    return values


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.3f}{unit}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def print_idle_table(scenario: str, runs: list[dict[str, Any]]) -> None:
    by_config = {
        c: [r for r in runs if r["config"] == c and r["scenario"] == scenario] for c in CONFIGS
    }
    counts = {c: by_config[c][0]["counts"] for c in CONFIGS}
    sizes = ", ".join(f"{LABELS[c]} {counts[c]['sys_modules']}" for c in CONFIGS)
    print(
        f"\nIdle cell (`pass`), scenario {scenario!r}: {counts['none']['user_modules']} user"
        f" modules; len(sys.modules): {sizes}; hotreload stats"
        f" {counts['hotreload'].get('watched')} files per cell, autoreload"
        f" {counts['autoreload'].get('stated')}"
    )
    print(f"{'':25}{' extension hooks only ':-^32} {' whole cell ':-^43}")
    header = ("wall med", "wall p90", "CPU med", "wall med", "wall p90", "CPU med", "+vs none")
    print(f"{'configuration (ms/cell)':24}" + "".join(f"{h:>11}" for h in header))
    medians: dict[str, dict[str, float | None]] = {}
    none_cell = statistics.median(pooled(by_config["none"], "idle", "cell_wall")) / 1e6
    for config in CONFIGS:
        group = by_config[config]
        hooks = summarise(pooled(group, "idle", "hooks_wall"))
        hooks_cpu = summarise(pooled(group, "idle", "hooks_cpu"))
        cell = summarise(pooled(group, "idle", "cell_wall"))
        cell_cpu = summarise(pooled(group, "idle", "cell_cpu"))
        has_hooks = config != "none"
        medians[config] = {
            "hooks": hooks["median"] if has_hooks else None,
            "hooks_cpu": hooks_cpu["median"] if has_hooks else None,
            "cell": cell["median"],
            "cell_cpu": cell_cpu["median"],
        }
        cells = (
            fmt(hooks["median"]) if has_hooks else "-",
            fmt(hooks["p90"]) if has_hooks else "-",
            fmt(hooks_cpu["median"]) if has_hooks else "-",
            fmt(cell["median"]),
            fmt(cell["p90"]),
            fmt(cell_cpu["median"]),
            f"{cell['median'] - none_cell:+.3f}" if has_hooks else "-",
        )
        print(f"{LABELS[config]:24}" + "".join(f"{c:>11}" for c in cells))
    print(
        f"{'ratios of medians':24}"
        + "".join(f"{h:>11}" for h in ("hooks", "hooks CPU", "cell", "cell CPU"))
    )
    for a, b in (("hotreload", "autoreload"), ("hotreload", "none"), ("autoreload", "none")):
        values = [
            ratio(medians[a][k], medians[b][k]) for k in ("hooks", "hooks_cpu", "cell", "cell_cpu")
        ]
        print(f"{LABELS[a] + ' / ' + LABELS[b]:24}" + "".join(f"{v:>11}" for v in values))
    # The same ratio round by round (both measured minutes apart at most) shows how stable it is.
    per_round = []
    for hot, auto in zip(by_config["hotreload"], by_config["autoreload"], strict=True):
        h = statistics.median(hot["idle"]["hooks_wall"])
        a = statistics.median(auto["idle"]["hooks_wall"])
        per_round.append(h / a if a else float("nan"))
    print("hooks ratio hotreload/autoreload per round: " + ", ".join(f"{r:.2f}" for r in per_round))


def print_first_cells(runs: list[dict[str, Any]]) -> None:
    print("\nOne-time cost: the cell importing the modules, then the first `pass` cell (hooks, ms)")
    print(f"{'scenario / configuration':32}{'import cell':>14}{'next cell':>14}")
    for scenario in SCENARIOS:
        for config in CONFIGS[1:]:
            group = [r for r in runs if r["config"] == config and r["scenario"] == scenario]
            if not group:
                continue
            firsts = [r["first_cells"]["hooks_wall"] for r in group]
            imp = statistics.median(f[0] for f in firsts) / 1e6
            nxt = statistics.median(f[1] for f in firsts) / 1e6
            print(f"{scenario + ' / ' + LABELS[config]:32}{imp:>14.3f}{nxt:>14.3f}")


def print_reload_table(runs: list[dict[str, Any]]) -> None:
    group = {c: [r for r in runs if r["config"] == c and "reload" in r] for c in CONFIGS[1:]}
    if not all(group.values()):
        return
    sample = group["hotreload"][0]["reload"]
    edits = sum(r["reload"]["edits"] for r in group["hotreload"])
    print(
        f"\nOne reload: edit helper() in {sample['module']} (two versions, alternating), time the"
        f" next cell; {edits} edits per configuration"
    )
    # "+vs idle" subtracts the same configuration's idle hook median: what the reload itself
    # costs on top of the per-cell check that runs anyway.
    header = ("hooks med", "hooks p90", "hooks CPU", "+vs idle", "cell med", "verified", "old ref")
    print(f"{'configuration (ms)':24}" + "".join(f"{h:>11}" for h in header))
    medians = {}
    for config, members in group.items():
        idle = statistics.median(pooled(members, "idle", "hooks_wall")) / 1e6
        hooks = summarise(pooled(members, "reload", "hooks_wall"))
        hooks_cpu = summarise(pooled(members, "reload", "hooks_cpu"))
        cell = summarise(pooled(members, "reload", "cell_wall"))
        verified = sum(r["reload"]["verified"] for r in members)
        held = sum(r["reload"]["old_reference_verified"] for r in members)
        medians[config] = hooks["median"]
        cells = (
            fmt(hooks["median"]),
            fmt(hooks["p90"]),
            fmt(hooks_cpu["median"]),
            f"{hooks['median'] - idle:+.3f}",
            fmt(cell["median"]),
            f"{verified}/{edits}",
            f"{held}/{edits}",
        )
        print(f"{LABELS[config]:24}" + "".join(f"{c:>11}" for c in cells))
    print(
        f"{'hotreload / autoreload 2':24}{ratio(medians['hotreload'], medians['autoreload']):>11}"
    )


def print_breakdown(runs: list[dict[str, Any]]) -> None:
    print("\nWhere the idle hook time goes (direct calls outside cells, median ms)")
    for scenario in SCENARIOS:
        for config in CONFIGS[1:]:
            group = [r for r in runs if r["config"] == config and r["scenario"] == scenario]
            if not group:
                continue
            pre = statistics.median(pooled(group, "idle", "pre_wall")) / 1e6
            post = statistics.median(pooled(group, "idle", "post_wall")) / 1e6
            print(
                f"  {scenario} / {LABELS[config]}:"
                f" pre-cell hooks {pre:.3f}, post-cell hooks {post:.3f}"
            )
            for key in group[0]["breakdown"]:
                value = statistics.median(r["breakdown"][key] for r in group) / 1e6
                print(f"    {key:40}{value:>10.3f}")


def run_worker(spec: dict[str, Any], workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    tag = f"{spec['scenario']}-{spec['config']}-{spec['round']}"
    return _common.run_worker("benchmarks.overhead", spec, workdir, env, tag)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=500, help="user modules (default 500)")
    parser.add_argument("--cells", type=int, default=300, help="timed idle cells per run")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of none/autoreload/hotreload")
    parser.add_argument("--warmup", type=int, default=20, help="untimed cells before timing")
    parser.add_argument("--edits", type=int, default=10, help="timed reloads per run (max 100)")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also cProfile the idle hooks of one extra run per extension; print N top lines",
    )
    parser.add_argument("--json", type=Path, help="where to write raw results")
    parser.add_argument("--no-json", action="store_true", help="do not write raw results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.modules < 2 or args.cells < 1 or args.rounds < 1 or not 0 <= args.edits <= 100:
        parser.error("need --modules >= 2, --cells >= 1, --rounds >= 1, 0 <= --edits <= 100")
    return args


def run_all(args: argparse.Namespace, heavy: list[str]) -> tuple[list[Any], list[Any], str]:
    """Every round of every (scenario, configuration), then the profiled runs (``--profile``).

    Returns the workers' results, the profiled runs' and the filesystem of the modules.
    """
    runs: list[dict[str, Any]] = []
    profiles: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hotreload-bench-") as tmp:
        workdir = Path(tmp)
        moddir = workdir / "modules"
        moddir.mkdir()
        generate_modules(moddir, args.modules)
        compile_extensions()
        env = worker_env(workdir)
        base = {
            "moddir": str(moddir),
            "modules": args.modules,
            "cells": args.cells,
            "warmup": args.warmup,
            "edits": args.edits,
            "heavy": heavy,
        }
        for round_ in range(args.rounds):
            # Interleaved: drift in machine load spreads over every configuration alike.
            for scenario in SCENARIOS:
                for config in CONFIGS:
                    spec = {**base, "config": config, "scenario": scenario, "round": round_}
                    t0 = time.perf_counter()
                    run = run_worker(spec, workdir, env)
                    runs.append(run)
                    hooks = statistics.median(run["idle"]["hooks_wall"]) / 1e6
                    cell = statistics.median(run["idle"]["cell_wall"]) / 1e6
                    print(
                        f"[round {round_ + 1}/{args.rounds}] {scenario:5} {LABELS[config]:12}"
                        f" hooks {hooks:7.3f} ms  cell {cell:7.3f} ms"
                        f"  ({time.perf_counter() - t0:.1f} s)",
                        file=sys.stderr,
                    )
        if args.profile:
            for config in CONFIGS[1:]:
                spec = {**base, "config": config, "scenario": "user", "round": "profile"}
                profiles.append(
                    run_worker({**spec, "edits": 0, "profile": args.profile}, workdir, env)
                )
        return runs, profiles, filesystem_of(str(moddir))


def print_header(
    args: argparse.Namespace,
    runs: list[dict[str, Any]],
    third_party: list[str],
    revision: str,
    load_before: tuple[float, float, float],
    fs: str,
) -> None:
    """What ran, on what machine, and how it was measured."""
    deduper = next(r.get("deduperreload") for r in runs if r["config"] == "autoreload")
    print("\nhotreload vs %autoreload: per-cell overhead")
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}),"
        f" IPython {version_of('ipython')}, hotreload {version_of('ipython-hotreload')}"
        f" (git {revision}),"
        f" autoreload mode 2 with deduperreload={deduper}"
    )
    print(
        f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs;"
        f" {platform.system()} {platform.release()}"
    )
    print(
        f"load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f};"
        f" modules on {fs}"
    )
    print(
        f"{args.modules} user modules; heavy scenario adds {len(STDLIB_EXTRA)} stdlib packages and"
        f" {', '.join(f'{n} {version_of(n)}' for n in third_party) or 'no third-party packages'}"
        f" (missing: {', '.join(sorted(set(THIRD_PARTY) - set(third_party))) or 'none'})"
    )
    print(
        f"{args.cells} timed cells after {args.warmup} warm-up cells, x {args.rounds} rounds,"
        " each configuration in a fresh subprocess, order none/autoreload/hotreload;"
        " wall = perf_counter, CPU = thread_time of the main thread"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args.worker)
        return
    started = time.perf_counter()
    revision = source_revision()  # taken first: the tree may change while the benchmark runs
    third_party = [name for name in THIRD_PARTY if importlib.util.find_spec(name) is not None]
    heavy = [*STDLIB_EXTRA, *third_party]
    load_before = os.getloadavg()
    runs, profiles, fs = run_all(args, heavy)
    elapsed = time.perf_counter() - started
    print_header(args, runs, third_party, revision, load_before, fs)
    for scenario in SCENARIOS:
        print_idle_table(scenario, runs)
    print_first_cells(runs)
    print_reload_table(runs)
    print_breakdown(runs)
    for profile in profiles:
        print(f"\ncProfile of the {LABELS[profile['config']]} hooks over {args.cells} idle cells:")
        print(profile["profile"].rstrip())
    print(f"\ntotal runtime {elapsed:.1f} s")

    if not args.no_json:
        path = args.json or ROOT / "_results" / time.strftime("overhead-%Y%m%d-%H%M%S.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "heavy": heavy,
            "elapsed": elapsed,
        }
        path.write_text(json.dumps({"meta": meta, "runs": runs, "profiles": profiles}))
        print(f"raw results: {path}")


if __name__ == "__main__":
    main()
