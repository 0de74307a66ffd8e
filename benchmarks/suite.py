"""The speed suite: every target of the speed issue, side by side with ``%autoreload 2``.

Run from the repository root (``scripts/bench`` makes a virtual environment with the heavy
packages and runs this)::

    python -m benchmarks.suite            # full sizes, 3 rounds: tens of minutes on 2 cores
    python -m benchmarks.suite --quick    # small sizes, 1 round: a smoke run
    python -m benchmarks.suite --only idle --rounds 5
    python -m benchmarks.suite --table benchmarks/_results/suite-....json   # a saved run's table

The parent generates the modules every scenario needs into a temporary directory, then runs each
(scenario, configuration) pair in a fresh worker process (``_measure.py``), in rounds
that interleave the configurations, so that load from other jobs on the machine spreads over all
of them alike. A worker builds a real ``InteractiveShell``, loads nothing, ``%autoreload 2`` or
hotreload, imports the scenario's modules in a cell, and measures: the CPU time (``thread_time``
of the main thread) spent inside the callbacks the extension registered, for idle cells or for
the cell after an edit; memory (RSS, tracemalloc); or a component directly. The parent pools the
samples of all rounds and prints one table of medians, ratios and targets, then the details.
Nothing here asserts a speed: it reports figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import (
    LABELS,
    ROOT,
    THIRD_PARTY,
    compile_extensions,
    cpu_model,
    filesystem_of,
    run_worker,
    source_revision,
    version_of,
    worker_env,
)
from ._generated import FULL, QUICK, Sizes, generate
from ._rows import Runs
from ._scenarios import SCENARIOS, Scenario, dask_available, notify_mode_available
from ._table import build_table, print_details, print_table

# What each worker process runs: the measurements alone, not the registry or the table.
WORKER = "benchmarks._measure"


def missing_packages() -> list[str]:
    """Packages the suite uses that are not importable here (for scripts/bench)."""
    wanted = [*THIRD_PARTY, "watchfiles"]
    return [name for name in wanted if importlib.util.find_spec(name) is None]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 round (smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds of every configuration (default 3)")
    parser.add_argument(
        "--only", action="append", default=[], metavar="TEXT", help="scenarios whose name has TEXT"
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--missing", action="store_true", help="print missing packages and exit")
    parser.add_argument("--json", type=Path, help="where to write raw results")
    parser.add_argument("--no-json", action="store_true", help="do not write raw results")
    parser.add_argument(
        "--table", type=Path, metavar="JSON", help="print the table of saved raw results and exit"
    )
    return parser.parse_args(argv)


def skipped_scenarios(chosen: Sequence[Scenario]) -> dict[str, str]:
    """The chosen scenarios this hotreload cannot run, with the reason the table gives."""
    reasons = {}
    if not notify_mode_available():
        reasons["notify-mode"] = "not available (no HotReload.detection = 'notify' here)"
    if not dask_available():
        reasons["dask"] = "not available (distributed is not installed: the 'dask' extra)"
    return {s.name: reasons[s.requires] for s in chosen if s.requires in reasons}


def run_rounds(active: Sequence[Scenario], sizes: Sizes, rounds: int) -> tuple[Runs, str]:
    """Every (scenario, configuration) of every round, each in a fresh worker process.

    Returns the workers' results and the filesystem the generated modules were on.
    """
    runs: Runs = {}
    with tempfile.TemporaryDirectory(prefix="hotreload-suite-") as tmp:
        workdir = Path(tmp)
        print("generating modules ...", file=sys.stderr)
        dirs = generate(workdir / "modules", sizes)
        compile_extensions()
        env = worker_env(workdir)
        for round_ in range(rounds):
            for scenario in active:
                if round_ >= scenario.max_rounds:
                    continue
                for config in scenario.configs:
                    spec = {
                        "scenario": scenario.name,
                        "measure": scenario.run.__name__,
                        "config": config,
                        "round": round_,
                        "params": scenario.params(sizes),
                        "dirs": dirs,
                    }
                    t0 = time.perf_counter()
                    tag = f"{scenario.name}-{config}-{round_}"
                    run = run_worker(WORKER, spec, workdir, env, tag)
                    runs.setdefault((scenario.name, config), []).append(run)
                    print(
                        f"[round {round_ + 1}/{rounds}] {scenario.name:17} {LABELS[config]:22}"
                        f" {time.perf_counter() - t0:6.1f} s",
                        file=sys.stderr,
                    )
        return runs, filesystem_of(str(workdir))


def print_header(quick: bool, revision: str, run_facts: str) -> None:
    """The lines above the table: what ran, on what machine, and how to read the times."""
    print("\nhotreload speed suite" + (" (--quick: small sizes)" if quick else ""))
    print(
        f"Python {platform.python_version()}, IPython {version_of('ipython')},"
        f" hotreload git {revision}; {', '.join(f'{n} {version_of(n)}' for n in THIRD_PARTY)},"
        f" watchfiles {version_of('watchfiles')}"
    )
    print(
        f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; {platform.system()}"
        f" {platform.release()}; {run_facts}"
    )
    print(
        "Times: median CPU time (thread_time of the main thread) inside the callbacks each"
        " extension registered, per cell; the `none` column is the whole cell's CPU time with no"
        " extension, for scale. Ratios: hotreload / %autoreload 2 unless the row says otherwise.\n"
    )


def save_results(
    path: Path, meta: dict[str, Any], sizes: Sizes, skipped: dict[str, str], runs: Runs
) -> None:
    """The raw samples, as ``--table`` reads them back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    serial = {f"{s}|{c}": group for (s, c), group in runs.items()}
    data = {"meta": meta, "sizes": dataclasses.asdict(sizes), "skipped": skipped, "runs": serial}
    path.write_text(json.dumps(data))


def load_results(path: Path) -> tuple[Runs, Sizes, dict[str, str]]:
    """What :func:`save_results` wrote (files from before ``skipped`` was saved skip nothing)."""
    data = json.loads(path.read_text())
    sizes: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in data["sizes"].items()
    }
    runs: Runs = {}
    for key, group in data["runs"].items():
        scenario, _, config = key.partition("|")
        runs[scenario, config] = group
    return runs, Sizes(**sizes), data.get("skipped", {})


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.missing:
        print(" ".join(missing_packages()))
        return
    if args.table:
        runs, sizes, skipped = load_results(args.table)
        print_table(build_table(runs, sizes, skipped))
        print_details(runs)
        return
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or (1 if args.quick else 3)
    chosen = [s for s in SCENARIOS.values() if not args.only or any(t in s.name for t in args.only)]
    if args.list:
        for s in chosen:
            configs = ", ".join(LABELS[c] for c in s.configs)
            print(f"{s.name:18} {s.title} [{configs}] {s.params(sizes)}")
        return
    missing = missing_packages()
    if missing:
        print(
            f"note: not installed: {', '.join(missing)}. The heavy scenarios use what is there;"
            " for the full suite run scripts/bench, or: pip install -e '.[bench]'"
            f" (or: pip install {' '.join(missing)})",
            file=sys.stderr,
        )
    skipped = skipped_scenarios(chosen)
    started = time.perf_counter()
    revision = source_revision()  # taken first: the tree may change while the suite runs
    load_before = os.getloadavg()
    runs, fs = run_rounds([s for s in chosen if s.name not in skipped], sizes, rounds)
    elapsed = time.perf_counter() - started
    print_header(
        args.quick,
        revision,
        f"modules on {fs}; load average before/after"
        f" {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}; {rounds} round(s), {elapsed:.0f} s",
    )
    print_table(build_table(runs, sizes, skipped))
    print_details(runs)
    if not args.no_json:
        path = args.json or ROOT / "_results" / time.strftime("suite-%Y%m%d-%H%M%S.json")
        meta = {"args": {k: str(v) for k, v in vars(args).items()}, "elapsed": elapsed}
        save_results(path, meta, sizes, skipped, runs)
        print(f"\nraw results: {path}")


if __name__ == "__main__":
    main()
