"""Differential oracle: after every edit, the live session behaves like a fresh process.

Each sequence (``tests/oracle_support.py``) is a few modules importing each other, edited step by
step. The live side imports step 0 in this process, then writes each step's files and runs one
``Reloader.check``. The reference is a separate Python process that imports the step's files from
scratch. After every step both sides run the same :func:`observe` and must agree:

- a good step: every module's names, function results, classes, instances and methods are those of
  the fresh import; references taken earlier (old function and class objects, instances made
  before the edits) behave like the current ones; ``CACHE`` state keeps its entries unless its own
  statement changed (then it starts over, as in the fresh import);
- a step whose fresh import fails (a syntax error or an exception, in one module only): the live
  engine reports exactly that module as failed, and the session behaves exactly as before.

A failing sequence is shrunk (fewer steps, fewer module versions, fewer statements) and printed as
a regression file for ``tests/regressions/``, whose files are replayed by
:func:`test_regression_replays`. ``HOTRELOAD_SLOW=1`` runs ten times more sequences (marked
``slow``); ``HOTRELOAD_ORACLE_SAVE=DIR`` also writes each minimized failure into ``DIR``.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib
import itertools
import os
import re
import sys
import traceback
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hotreload_ext import CycleReport, Reloader
from hotreload_ext._rebind import Namespace
from tests.conftest import ModuleFiles, _OnlyPrefix
from tests.oracle_support import (
    INIT_ARG,
    PREFIX,
    FreshProcess,
    Observation,
    Steps,
    describe,
    describe_instance,
    dump_regression,
    first_difference,
    generate_sequence,
    import_name,
    is_state,
    load_regression,
    module_order,
    normalize,
    observe,
    one_shot,
    read_state,
    render_steps,
    shrink,
)

SLOW = bool(os.environ.get("HOTRELOAD_SLOW"))
NORMAL_SEQUENCES = 250
SEQUENCES = NORMAL_SEQUENCES * 10 if SLOW else NORMAL_SEQUENCES
STEPS = 6
REGRESSIONS = Path(__file__).resolve().parent.parent / "regressions"

ReloaderFactory = Callable[[str], Reloader]


def strict_reloader(prefix: str) -> Reloader:
    """The engine as the ``reloader`` fixture makes it: strict, watching one run's modules."""
    return Reloader(include=(), exclude=(), strict=True, modules=_OnlyPrefix(prefix))


@dataclass(frozen=True)
class Failure:
    """How a replay went wrong: at which step, what kind of failure, and the details."""

    step: int
    category: str
    message: str

    def __str__(self) -> str:
        return f"step {self.step}: {self.category}: {self.message}"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshProcess]:
    """The reference process, shared by this file's tests (it forgets everything per request)."""
    process = FreshProcess(tmp_path_factory.mktemp("fresh"))
    yield process
    process.close()


# =================================================================================================
# Replaying a sequence
# =================================================================================================

_runs = itertools.count()


@contextlib.contextmanager
def isolated_imports(root: Path) -> Iterator[None]:
    """``root`` on sys.path for the duration; sys.modules and sys.path restored afterwards."""
    modules = dict(sys.modules)
    path = list(sys.path)
    root.mkdir(parents=True)
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n not in modules]:
            del sys.modules[name]
        sys.modules.update(modules)
        sys.path[:] = path
        importlib.invalidate_caches()


def replay(
    steps: Steps,
    workdir: Path,
    fresh: FreshProcess,
    make_reloader: ReloaderFactory = strict_reloader,
) -> Failure | None:
    """Run a sequence on a live engine and on the fresh process; the first disagreement."""
    root = workdir / f"live{next(_runs)}"
    with isolated_imports(root):
        return _Replay(steps, ModuleFiles(root), fresh, make_reloader).run()


class _Replay:
    """One run of a sequence: the live engine and the fresh process, compared after each step."""

    def __init__(
        self, steps: Steps, files: ModuleFiles, fresh: FreshProcess, make_reloader: ReloaderFactory
    ) -> None:
        self.steps = steps
        self.files = files
        self.fresh = fresh
        self.stems = module_order(steps[0])
        self.names = {stem: files.name(stem) for stem in self.stems}
        self.reloader = make_reloader(files.prefix)
        self.modules: list[types.ModuleType] = []
        self.held = HeldReferences()
        # A host namespace, as IPython's: a cell did `from m import NAME` for every public name.
        self.user_ns: dict[str, Any] = {}
        self.user_imports: dict[str, tuple[str, str]] = {}
        # The names to check: once a module loses a name, the user's binding is theirs.
        self.user_checked: set[str] = set()
        # The sources the live modules last reloaded from, their last observation, and the
        # state a fresh process counts while observing them.
        self.accepted: dict[str, str] = {}
        self.previous: Observation = {}
        self.good_state: dict[str, dict[str, Any]] = {}
        # The live state after everything the previous step called.
        self.base_state: dict[str, dict[str, Any]] = {}

    def real(self, text: str) -> str:
        return text.replace(PREFIX, self.files.prefix)

    def submit(self, step: dict[str, str]) -> None:
        """Ask the fresh process to import the step (it works while the live side reloads)."""
        sources = {self.names[s]: self.real(step[s]) for s in self.stems}
        self.fresh.submit(sources, [self.names[s] for s in self.stems])

    def run(self) -> Failure | None:
        failure = self.start()
        for index in range(1, len(self.steps)):
            if failure is not None:
                break
            failure = self.step(index)
        return failure

    def start(self) -> Failure | None:
        first = self.steps[0]
        for stem in self.stems:
            self.files.write(self.names[stem], self.real(first[stem]), dedent=False)
        self.submit(first)
        fresh = self.fresh.result()
        if fresh.observation is None:
            return Failure(0, "invalid", f"the first step does not import: {fresh.error}")
        importlib.invalidate_caches()
        self.modules = [importlib.import_module(import_name(self.names[s])) for s in self.stems]
        self.reloader.discover()
        self.import_into_user_namespace()
        live = normalize(observe(self.modules))
        difference = first_difference(without_state(live), without_state(fresh.observation))
        if difference:
            return Failure(0, "mismatch", difference)
        self.accepted, self.previous = dict(first), live
        self.good_state = fresh.observation["state"]
        self.held.capture(self.modules)
        self.base_state = normalize(read_state(self.modules))
        return None

    def step(self, index: int) -> Failure | None:
        step = self.steps[index]
        if sorted(step) != sorted(self.stems):
            return Failure(index, "invalid", "every step must have the same modules")
        changed = [s for s in self.stems if step[s] != self.steps[index - 1][s]]
        for stem in changed:
            self.files.write(self.names[stem], self.real(step[stem]), dedent=False)
        self.submit(step)
        try:
            report = self.reloader.check()
        except Exception:
            self.fresh.result()
            return Failure(index, "crash", traceback.format_exc())
        fresh = self.fresh.result()
        if fresh.observation is not None:
            failure = self.good_step(index, report, fresh.observation)
        else:
            failure = self.broken_step(index, report, changed, fresh.error or "")
        if failure is not None:
            return failure
        difference = self.held.check(self.modules)
        if difference:
            return Failure(index, "old reference", difference)
        difference = self.check_user_namespace(fresh.observation or self.previous)
        if difference:
            return Failure(index, "user namespace", difference)
        self.held.capture(self.modules)
        self.base_state = normalize(read_state(self.modules))
        return None

    def import_into_user_namespace(self) -> None:
        """``from m import NAME`` for every public name of every module, as a user's cell would."""
        for module in self.modules:
            for name, value in vars(module).items():
                public = not name.startswith("_") and not is_state(name)
                if public and not isinstance(value, types.ModuleType):
                    self.user_ns[name] = value
                    self.user_imports[name] = (module.__name__, name)
                    self.user_checked.add(name)
        self.reloader.namespaces.append(
            Namespace(label="the user namespace", mapping=self.user_ns, imports=self.user_imports)
        )

    def check_user_namespace(self, expected: Observation) -> str | None:
        """Each name the user imported behaves like the module's name, while the module has it."""
        generated = frozenset(m.__name__ for m in self.modules)
        for alias in sorted(self.user_checked):
            module, name = self.user_imports[alias]
            want = expected["modules"][module]["names"].get(name)
            if want is None:
                self.user_checked.discard(alias)
                continue
            have = normalize(describe(self.user_ns[alias], generated))
            difference = first_difference(have, want)
            if difference:
                return f"`from {module} import {name}` in the user namespace: {difference}"
        return None

    def good_step(self, index: int, report: CycleReport, expected: Observation) -> Failure | None:
        """The fresh import works: the live modules must behave exactly like it."""
        if report.failed:
            text = "\n".join(str(f) for f in report.failed)
            return Failure(index, "reload failed", f"a fresh import works, but:\n{text}")
        step = self.steps[index]
        whole = {r.module for r in report.reloaded if r.mode != "statements"}
        keeps: dict[str, set[str]] = {}
        for stem, name in self.names.items():
            module = import_name(name)
            if self.base_state.get(module):
                keeps[module] = kept_state(
                    self.accepted[stem],
                    step[stem],
                    set(self.base_state[module]),
                    whole=module in whole,
                )
        live = normalize(observe(self.modules))
        difference = first_difference(without_state(live), without_state(expected))
        if difference:
            return Failure(index, "mismatch", difference)
        want = expected_state(self.base_state, expected["state"], keeps)
        difference = first_difference(live["state"], want, "/state")
        if difference:
            return Failure(index, "state", difference)
        self.accepted, self.previous = dict(step), live
        self.good_state = expected["state"]
        return None

    def broken_step(
        self, index: int, report: CycleReport, changed: list[str], error: str
    ) -> Failure | None:
        """The fresh import fails: the engine must say so and keep the previous behaviour."""
        if len(changed) != 1:
            return Failure(index, "invalid", f"a failing step changed {changed}: {error}")
        failed = sorted(import_name(f.module) for f in report.failed)
        if failed != [import_name(self.names[changed[0]])]:
            return Failure(
                index,
                "failure not reported",
                f"a fresh import raises {error}; the engine reported failures for "
                f"{failed or 'no module'}",
            )
        live = normalize(observe(self.modules))
        difference = first_difference(without_state(live), without_state(self.previous))
        if difference:
            return Failure(index, "not rolled back", difference)
        # Nothing reloaded: all state persists, and this observation counted what the last
        # good step's observation counted.
        everything = {name: set(values) for name, values in self.base_state.items()}
        want = expected_state(self.base_state, self.good_state, everything)
        difference = first_difference(live["state"], want, "/state")
        if difference:
            return Failure(index, "state", difference)
        return None


def without_state(observation: Observation) -> dict[str, Any]:
    return observation["modules"]  # type: ignore[no-any-return]


def _binding_text(source: str, name: str) -> str | None:
    """The text of the top-level statement that binds ``name``, if exactly one does."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found = [
        ast.get_source_segment(source, node)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]
    return found[0] if len(found) == 1 else None


def kept_state(old: str, new: str, names: set[str], *, whole: bool) -> set[str]:
    """Which of the state ``names`` must keep their values: their statement neither changed nor
    ran again (the whole module body did not run)."""
    if whole:
        return set()
    if old == new:
        return names
    return {n for n in names if (text := _binding_text(new, n)) and text == _binding_text(old, n)}


def expected_state(
    base: dict[str, dict[str, Any]], fresh: dict[str, dict[str, Any]], keeps: dict[str, set[str]]
) -> dict[str, dict[str, Any]]:
    """The live state after this observation: what the fresh process counted, plus, for state
    that persists, what the live session had counted before."""
    want: dict[str, dict[str, Any]] = {}
    for module, values in fresh.items():
        want[module] = {}
        for name, counts in values.items():
            before = base.get(module, {}).get(name)
            if name in keeps.get(module, set()) and isinstance(before, dict):
                assert isinstance(counts, dict)
                keys = sorted(set(before) | set(counts))
                want[module][name] = {k: before.get(k, 0) + counts.get(k, 0) for k in keys}
            else:
                want[module][name] = counts
    return want


def _full_name(value: Any) -> str:
    return f"{getattr(value, '__module__', None)}.{getattr(value, '__qualname__', None)}"


class HeldReferences:
    """Functions, classes and instances taken from the modules when they first appeared.

    An old function must behave like the module's current one; an old instance like a new one
    made with the same argument, when their attributes are equal (an edited ``__init__`` changes
    new instances only); an instance of a class that had to be replaced must have moved to the
    new class.
    """

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Any] = {}
        self.full_names: dict[tuple[str, str], str] = {}
        self.instances: dict[tuple[str, str], Any] = {}

    def capture(self, modules: list[types.ModuleType]) -> None:
        for module in modules:
            for name, value in vars(module).items():
                key = (module.__name__, name)
                if name.startswith("__") or key in self.objects:
                    continue
                if isinstance(value, (types.FunctionType, type)):
                    if value.__module__ != module.__name__:
                        continue
                    self.objects[key] = value
                    self.full_names[key] = f"{value.__module__}.{value.__qualname__}"
                    if isinstance(value, type):
                        with contextlib.suppress(Exception):
                            self.instances[key] = value(INIT_ARG)

    def check(self, modules: list[types.ModuleType]) -> str | None:
        generated = frozenset(m.__name__ for m in modules)
        by_name = {m.__name__: m for m in modules}
        for key, old in list(self.objects.items()):
            namespace = vars(by_name[key[0]])
            current = namespace.get(key[1])
            # Only a new version of the same definition (same kind, module and qualified name)
            # keeps the old object's identity; any other object under that name is just bound
            # to it (a renamed factory's closure, a function moved to another module).
            same_kind = type(current) is type(old) or (
                isinstance(current, type) and isinstance(old, type)
            )
            if current is None or not same_kind or _full_name(current) != self.full_names[key]:
                del self.objects[key]
                self.instances.pop(key, None)
                continue
            where = f"{key[0]}.{key[1]}"
            if isinstance(old, types.FunctionType):
                if old is current:
                    continue
                difference = first_difference(
                    normalize(describe(old, generated)), normalize(describe(current, generated))
                )
                if difference:
                    return f"the function taken before the edits differs from {where}: {difference}"
                continue
            instance = self.instances.get(key)
            if old is not current:
                self.objects[key] = current
                if instance is not None and type(instance) is not current:
                    return f"an instance of the replaced class {where} was not moved to it"
            if instance is None:
                continue
            try:
                new = current(INIT_ARG)
            except Exception:
                continue
            if normalize(describe(vars(instance), generated)) == normalize(
                describe(vars(new), generated)
            ):
                difference = first_difference(
                    normalize(describe_instance(instance, generated, 0)),
                    normalize(describe_instance(new, generated, 0)),
                )
                if difference:
                    return f"an instance made before the edits differs from {where}(): {difference}"
        return None


# =================================================================================================
# Tests
# =================================================================================================


def report_failure(
    steps: Steps, failure: Failure, workdir: Path, fresh: FreshProcess, title: str
) -> str:
    """Shrink a failing sequence and format it as a regression file, ready to keep."""
    steps = steps[: failure.step + 1]

    def still_fails(candidate: Steps) -> bool:
        found = replay(candidate, workdir, fresh)
        return found is not None and found.category == failure.category

    small = shrink(steps, still_fails)
    final = replay(small, workdir, fresh) or failure
    # Module names as the regression file spells them, not this run's prefix.
    observed = re.sub(r"hrmod\d+_", PREFIX, str(final))
    text = dump_regression(small, title=title, observed=observed)
    save = os.environ.get("HOTRELOAD_ORACLE_SAVE")
    if save:
        Path(save).mkdir(parents=True, exist_ok=True)
        (Path(save) / f"{title.replace(' ', '-')}.json").write_text(text, encoding="utf-8")
    return (
        f"{failure}\n\nMinimized from {len(steps)} steps to {len(small)}: {final}\n\n"
        f"{render_steps(small)}\n\n"
        f"Keep it as tests/regressions/<name>.json:\n{text}"
    )


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param(seed, marks=pytest.mark.slow) if seed >= NORMAL_SEQUENCES else seed
        for seed in range(SEQUENCES)
    ],
)
def test_generated_sequence_matches_a_fresh_process(
    tmp_path: Path, fresh: FreshProcess, seed: int
) -> None:
    steps = generate_sequence(seed, STEPS)
    failure = replay(steps, tmp_path, fresh)
    if failure is not None:
        pytest.fail(report_failure(steps, failure, tmp_path, fresh, f"seed {seed}"), pytrace=False)


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.json")), ids=lambda p: Path(p).stem)
def test_regression_replays(tmp_path: Path, fresh: FreshProcess, path: Path) -> None:
    failure = replay(load_regression(path), tmp_path, fresh)
    assert failure is None, str(failure)


# --- the oracle itself ----------------------------------------------------------------------------

F1 = "def f(x):\n    return x + 1\n"
F2 = "def f(x):\n    return x + 2\n"


def never_reloads(prefix: str) -> Reloader:
    """An engine that watches nothing: the live session keeps running step 0."""
    return Reloader(include=(), exclude=("*",), strict=True, modules=_OnlyPrefix(prefix))


def test_oracle_accepts_a_reload_and_catches_a_session_that_does_not_reload(
    tmp_path: Path, fresh: FreshProcess
) -> None:
    steps = [{"m0": F1}, {"m0": F2}]
    assert replay(steps, tmp_path, fresh) is None
    failure = replay(steps, tmp_path, fresh, never_reloads)
    assert failure is not None
    assert (failure.step, failure.category) == (1, "mismatch")
    assert "x + 1" not in failure.message
    assert failure.message.endswith('/call(3)/returns: live "4" != fresh "5"')


def test_oracle_expects_the_previous_behaviour_after_a_broken_step(
    tmp_path: Path, fresh: FreshProcess
) -> None:
    broken = F2 + "BOOM = 1 // 0\n"
    assert replay([{"m0": F1}, {"m0": broken}, {"m0": F2}], tmp_path, fresh) is None
    # Two modules changed while the fresh import fails: nothing can be expected of the session.
    two = [{"m0": F1, "m1": F1}, {"m0": broken, "m1": F2}]
    failure = replay(two, tmp_path, fresh)
    assert failure is not None
    assert failure.category == "invalid"


def test_state_persists_until_its_statement_changes(tmp_path: Path, fresh: FreshProcess) -> None:
    counting = 'def f(x):\n    CACHE["f"] = CACHE.get("f", 0) + 1\n    return x + {k}\n'
    steps = [
        {"m0": "CACHE = {}\n" + counting.format(k=1)},
        {"m0": "CACHE = {}\n" + counting.format(k=2)},  # CACHE keeps its count
        {"m0": "CACHE = dict()\n" + counting.format(k=2)},  # CACHE starts over
    ]
    assert replay(steps, tmp_path, fresh) is None
    # A whole-module run rebuilds CACHE; the oracle follows what the report says ran.
    assert replay(steps, tmp_path, fresh, whole_module_reloader) is None
    # State lost although the report says only the changed statements ran: caught.
    failure = replay(steps, tmp_path, fresh, mislabelled_whole_module_reloader)
    assert failure is not None
    assert (failure.step, failure.category) == (1, "state")
    assert failure.message.endswith(": live 1 != fresh 2")


def whole_module_reloader(prefix: str) -> Reloader:
    return Reloader(selective=False, strict=True, modules=_OnlyPrefix(prefix))


class _MislabelledWholeRuns(Reloader):
    """Runs whole module bodies but reports them as statement-level reloads (an oracle test)."""

    def check(self, force: Iterable[str] = ()) -> CycleReport:
        report = super().check(force)
        report.reloaded = [dataclasses.replace(r, mode="statements") for r in report.reloaded]
        return report


def mislabelled_whole_module_reloader(prefix: str) -> Reloader:
    return _MislabelledWholeRuns(selective=False, strict=True, modules=_OnlyPrefix(prefix))


def test_shrinking_keeps_the_failure_and_drops_the_rest(
    tmp_path: Path, fresh: FreshProcess
) -> None:
    noise = "C = 1\n\n\ndef g(x):\n    return x * C\n"
    # Only f's edit is observable; comments, the other module and g are noise to shrink away.
    steps = [
        {"m0": F1 + noise, "m1": noise},
        {"m0": F1 + "# a comment\n" + noise, "m1": noise},
        {"m0": F2 + noise, "m1": "# another\n" + noise},
        {"m0": F2 + noise, "m1": noise},
    ]

    def fails(candidate: Steps) -> bool:
        found = replay(candidate, tmp_path, fresh, never_reloads)
        return found is not None and found.category == "mismatch"

    assert fails(steps)
    small = shrink(steps, fails)
    assert fails(small)
    assert len(small) == 2
    assert [sorted(step) for step in small] == [["m0"], ["m0"]]
    # The smallest failing edit: f appears (or changes) and the session does not see it.
    assert small[1]["m0"].strip() == F2.strip()
    assert small[0]["m0"].strip() in ("", F1.strip())


# One sequence of plain modules, one of a package with relative imports.
WORKER_SEEDS = [
    next(s for s in itertools.count() if ("pkg.__init__" in generate_sequence(s, 0)[0]) == package)
    for package in (False, True)
]


@pytest.mark.parametrize("seed", WORKER_SEEDS)
def test_worker_answers_like_a_new_process(tmp_path: Path, fresh: FreshProcess, seed: int) -> None:
    """The long-lived worker forgets each request: it observes what a new process would."""
    prefix = f"hrmodW{seed}_"
    for index, step in enumerate(generate_sequence(seed, STEPS)):
        sources = {prefix + key: text.replace(PREFIX, prefix) for key, text in step.items()}
        order = [prefix + key for key in module_order(step)]
        reused = fresh.run(sources, order)
        new = one_shot(sources, order, tmp_path / f"one{index}")
        assert (reused.observation, reused.error) == (new.observation, new.error), index
        assert reused.observation is not None or reused.error


def test_regression_files_load_back_exactly(tmp_path: Path) -> None:
    steps = generate_sequence(7, STEPS)
    path = tmp_path / "r.json"
    path.write_text(dump_regression(steps, title="t", observed="o"), encoding="utf-8")
    assert load_regression(path) == steps
