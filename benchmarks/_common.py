"""What the benchmark scripts share: generated modules, the shell worker pieces, machine facts.

``overhead.py`` (idle cells and one reload, in detail) and ``suite.py`` (every target of the
speed issue, in one table) both run each measurement in a fresh worker subprocess
(``python -m benchmarks.<module> --worker SPEC``) that builds a real ``InteractiveShell``, loads
one configuration and times the hooks it registered. The code for that lives here once.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
# The repository: workers run as `python -m benchmarks...` from here.
REPO = ROOT.parent
PREFIX = "hrb_mod_"
# Generated files get mtimes this far in the past: hotreload re-hashes a file whose mtime is
# within 2 s of when it was stamped ("racily clean", as git does). That only happens in the few
# cells right after a save; the steady idle cost measured here must not include it. An hour
# leaves room for 1,000 edits that each move a file's mtime one second forward.
PAST_NS = 3600 * 10**9
EVENTS = ("pre_run_cell", "pre_execute", "post_execute", "post_run_cell")
CONFIGS = ("none", "autoreload", "hotreload")
# Configurations by name: no extension; %autoreload 2 (deduperreload); %autoreload 2 --full (the
# legacy path, IPython 8's); hotreload polling; hotreload with HotReload.detection = 'notify'.
NONE, AUTO, AUTO_FULL, HOT, HOT_NOTIFY = (
    "none",
    "autoreload",
    "autoreload-full",
    "hotreload",
    "hotreload-notify",
)
ALL = (NONE, AUTO, HOT)
LABELS = {
    "none": "none",
    "autoreload": "%autoreload 2",
    "autoreload-full": "%autoreload 2 --full",
    "hotreload": "hotreload",
    "hotreload-notify": "hotreload (notify)",
}
# Imported in the "heavy" scenarios when installed: non-user modules, which %autoreload stats
# on every cell and hotreload must not. `pip install -e '.[bench]'` installs them.
THIRD_PARTY = ("numpy", "pandas", "scipy", "sympy")
# scipy imports its subpackages lazily; a session using it imports some, as these do. With them,
# an IPython session with all four packages has about 2,100 modules, as in the speed issue.
THIRD_PARTY_SUBMODULES = ("scipy.stats", "scipy.optimize", "scipy.signal", "scipy.integrate")
# Standard-library packages IPython does not import itself: they make the heavy scenario heavier
# even on a machine with none of THIRD_PARTY.
STDLIB_EXTRA = (
    "argparse",
    "asyncio",
    "concurrent.futures",
    "csv",
    "decimal",
    "difflib",
    "email.mime.multipart",
    "http.client",
    "logging.handlers",
    "multiprocessing.pool",
    "sqlite3",
    "tarfile",
    "unittest.mock",
    "urllib.request",
    "xml.dom.minidom",
    "xml.etree.ElementTree",
    "zipfile",
)


# --- generated user modules --------------------------------------------------------------------
def module_name(index: int) -> str:
    return f"{PREFIX}{index:04d}"


def helper_line(index: int, version: int) -> str:
    """The one line an edit changes; both versions have the same length, like a typo fix."""
    return f"    return x * SCALE_{index:04d} + {1 + version}\n"


def module_source(index: int, version: int = 0) -> str:
    """A realistic small module: constants, functions, a class, a dataclass, some imports.

    Two out of three modules import two earlier ones (by ``from`` and plain ``import``), so the
    set has a dependency graph like a real project's rather than isolated files, and the first
    ``k`` modules of a set are a closed set of their own.
    """
    deps = ""
    uses = "0"
    if index and index % 3:
        a, b = index - 1, index // 2
        deps = (
            f"from {module_name(a)} import helper_{a:04d} as _dep_a\n"
            f"import {module_name(b)} as _dep_b\n"
        )
        uses = f"_dep_a(1) + _dep_b.SCALE_{b:04d}"
    i = f"{index:04d}"
    return (
        f'"""Generated benchmark module {index}: constants, functions and classes."""\n\n'
        "from __future__ import annotations\n\n"
        "import math\n"
        "from dataclasses import dataclass, field\n"
        f"{deps}\n"
        f"SCALE_{i} = {index}\n"
        f'NAMES = ("alpha", "beta", "gamma", "m{i}")\n'
        f'LIMITS = {{"low": {index}, "high": {index + 100}}}\n\n\n'
        f"def helper_{i}(x):\n"
        '    """Scale x (the function the reload benchmark edits)."""\n'
        f"{helper_line(index, version)}\n\n"
        f"def combine_{i}(values):\n"
        "    total = 0\n"
        "    for value in values:\n"
        f"        total += helper_{i}(value)\n"
        f"    return total + {uses}\n\n\n"
        f"def describe_{i}(name: str) -> str:\n"
        f'    return f"{{name}}-{i}-{{len(NAMES)}}"\n\n\n'
        f"class Model{i}:\n"
        '    """A small class with state, methods and a property."""\n\n'
        f'    kind = "model-{i}"\n\n'
        "    def __init__(self, weight: float = 1.0) -> None:\n"
        "        self.weight = weight\n\n"
        "    def predict(self, x):\n"
        f"        return helper_{i}(x) * self.weight\n\n"
        "    @property\n"
        "    def norm(self) -> float:\n"
        "        return math.sqrt(self.weight * self.weight)\n\n"
        "    def __repr__(self) -> str:\n"
        f'        return f"Model{i}(weight={{self.weight}})"\n\n\n'
        "@dataclass\n"
        f"class Record{i}:\n"
        "    key: str\n"
        "    value: float = 0.0\n"
        "    tags: list[str] = field(default_factory=list)\n\n"
        "    def scaled(self) -> float:\n"
        f"        return self.value * SCALE_{i}\n\n\n"
        f"DEFAULT = Model{i}()\n"
    )


def date_in_past(path: Path, offset_ns: int = 0) -> None:
    """Give ``path`` an mtime PAST_NS (plus ``offset_ns``) ago."""
    stamp = time.time_ns() - PAST_NS - offset_ns
    os.utime(path, ns=(stamp, stamp))


def write_sources(directory: Path, sources: Mapping[str, str]) -> None:
    """Write modules (name -> source), date them in the past, and compile them once.

    Bytecode is compiled after the sources are dated (pyc headers record the source mtime), so
    every worker imports from the same valid bytecode instead of the first one paying to compile.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for index, (name, source) in enumerate(sources.items()):
        path = directory / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        # Distinct mtimes, like files saved at different moments.
        date_in_past(path, index * 1_000_000)
    compileall.compile_dir(str(directory), quiet=1)


def compile_extensions() -> None:
    """Byte-compile hotreload's own code, as installing a wheel does.

    The suite's environment installs the project editable, and with ``PYTHONDONTWRITEBYTECODE``
    set (as on some CI machines) every worker would compile hotreload from source on import,
    while IPython's autoreload, installed from a wheel, loads bytecode. Compiling first makes
    both load the way a user's installation does (and keeps compiler memory out of RSS).
    """
    import importlib.util

    spec = importlib.util.find_spec("hotreload_ext")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            compileall.compile_dir(location, quiet=1)


def generate_modules(directory: Path, count: int) -> None:
    """Write ``count`` modules made by :func:`module_source`."""
    write_sources(directory, {module_name(i): module_source(i) for i in range(count)})


class FileEdit:
    """Rewrites one file in place, moving its mtime forward a second per edit; then restores it.

    Each edit stays in the past (see PAST_NS): ``%autoreload`` needs a strictly newer mtime, and
    hotreload must not see the file as racily clean. ``restore()`` puts back the original bytes
    and mtime, so every worker starts from the same tree.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.original = path.read_bytes()
        self.original_ns = path.stat().st_mtime_ns
        self.edits = 0

    def write(self, text: str) -> None:
        self.edits += 1
        self.path.write_text(text, encoding="utf-8")
        stamp = self.original_ns + self.edits * 10**9
        os.utime(self.path, ns=(stamp, stamp))

    def restore(self) -> None:
        self.path.write_bytes(self.original)
        os.utime(self.path, ns=(self.original_ns, self.original_ns))


# --- the worker: a real shell with one configuration -------------------------------------------
class HookTimer:
    """Wraps the event callbacks an extension registered and adds up their wall and CPU time."""

    def __init__(self) -> None:
        self.wall: dict[str, int] = dict.fromkeys(EVENTS, 0)
        self.cpu: dict[str, int] = dict.fromkeys(EVENTS, 0)
        self.profiler: Any = None

    def install(self, shell: Any, before: dict[str, list[Any]]) -> list[str]:
        """Wrap every callback that was not registered before the extension was loaded."""
        wrapped = []
        for event in EVENTS:
            callbacks = shell.events.callbacks[event]
            for position, func in enumerate(callbacks):
                if func not in before[event]:
                    callbacks[position] = self._timed(event, func)
                    wrapped.append(f"{event}: {getattr(func, '__qualname__', func)}")
        return wrapped

    def _timed(self, event: str, func: Callable[..., Any]) -> Callable[..., Any]:
        wall, cpu = self.wall, self.cpu

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self.profiler is not None:
                self.profiler.enable()
            w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            try:
                return func(*args, **kwargs)
            finally:
                cpu[event] += time.thread_time_ns() - c0
                wall[event] += time.perf_counter_ns() - w0
                if self.profiler is not None:
                    self.profiler.disable()

        return timed

    def reset(self) -> None:
        for event in EVENTS:
            self.wall[event] = self.cpu[event] = 0


def make_shell() -> Any:
    """A real in-process ``InteractiveShell`` with an in-memory history."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    # No history file: the benchmark must not touch (or be slowed by) a real profile's database.
    config.HistoryManager.hist_file = ":memory:"
    return InteractiveShell.instance(config=config)


def callbacks_before(shell: Any) -> dict[str, list[Any]]:
    return {event: list(shell.events.callbacks[event]) for event in EVENTS}


def load_configuration(shell: Any, config: str) -> dict[str, Any]:
    """Load ``config`` into ``shell``; return facts worth recording about it."""
    facts: dict[str, Any] = {}
    if config in ("autoreload", "autoreload-full"):
        shell.run_line_magic("load_ext", "autoreload")
        shell.run_line_magic("autoreload", "2 --full" if config == "autoreload-full" else "2")
        reloader = shell.magics_manager.registry["AutoreloadMagics"]._reloader
        facts["deduperreload"] = bool(reloader.deduper_reloader.enabled)
    elif config in ("hotreload", "hotreload-notify"):
        shell.run_line_magic("load_ext", "hotreload")
        if config == "hotreload-notify":
            shell.run_line_magic("config", "HotReload.detection = 'notify'")
    elif config != "none":
        raise ValueError(f"unknown configuration {config!r}")
    return facts


# --- machine facts -----------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def filesystem_of(path: str) -> str:
    """The filesystem type holding ``path`` (stat costs differ between ext4, tmpfs, overlay)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and path.startswith(fields[1]) and len(fields[1]) > len(best):
                best, kind = fields[1], fields[2]
    except OSError:
        pass
    return kind


def source_revision() -> str:
    """The commit benchmarked, with ``-dirty`` when the work tree has uncommitted changes."""
    try:
        process = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return process.stdout.strip() or "unknown"


def version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def worker_env(workdir: Path) -> dict[str, str]:
    """The environment of worker processes.

    A private IPython directory, so the user's real profile is never read or written. Bytecode
    writing is left on even where this shell turned it off (PYTHONDONTWRITEBYTECODE), as in a
    user's session: it decides how reloads import.
    """
    env = {**os.environ, "IPYTHONDIR": str(workdir / "ipython"), "PYTHONHASHSEED": "0"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_worker(
    module: str, spec: dict[str, Any], workdir: Path, env: dict[str, str], tag: str
) -> dict[str, Any]:
    """Run ``python -m module --worker SPEC`` in a fresh process; return the JSON it wrote."""
    spec_path, out = workdir / f"{tag}.spec.json", workdir / f"{tag}.out.json"
    spec_path.write_text(json.dumps({**spec, "out": str(out)}))
    process = subprocess.run(
        [sys.executable, "-m", module, "--worker", str(spec_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if process.returncode != 0:
        sys.exit(f"worker {tag} failed ({process.returncode}):\n{process.stderr[-4000:]}")
    return dict(json.loads(out.read_text()))
