"""Differential oracle: after every edit, the live session behaves like a fresh process.

Each sequence (``tests/oracle_support.py``) is a few modules importing each other, edited step by
step. The live side imports step 0 in this process, then writes each step's files and runs one
``Reloader.check``. The reference is a separate Python process that imports the step's files from
scratch. After every step both sides run the same :func:`observe` and must agree:

- a good step: every module's names, function results, classes, instances and methods are those of
  the fresh import; references taken earlier (old function and class objects, instances made
  before the edits, enum members, handlers taken from registries) behave like the current ones;
  ``CACHE`` state keeps its entries unless its own statement changed (then it starts over, as in
  the fresh import);
- a step whose fresh import fails (a syntax error or an exception, in one module only): the live
  engine reports exactly that module as failed, and the session behaves exactly as before.

A failing sequence is shrunk (fewer steps, fewer module versions, fewer statements) and printed as
a regression file for ``tests/regressions/``, whose files are replayed by
:func:`test_regression_replays`. ``HOTRELOAD_SLOW=1`` runs ten times more sequences (marked
``slow``); ``HOTRELOAD_ORACLE_SAVE=DIR`` also writes each minimized failure into ``DIR``.

Engine gaps known today are listed in :data:`KNOWN_GAPS`, each with its regression (a strict
xfail) and the generator switch that steers around it; ``HOTRELOAD_ORACLE_ALL=1`` makes the
generator provoke them anyway.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import enum
import functools
import importlib
import importlib.util
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
from tests.conftest import ModuleFiles, _OnlyPrefix, bump, restore_modules
from tests.oracle_support import (
    CALL_ARG,
    GAPS,
    HANDLER_RESULT,
    PREFIX,
    FreshProcess,
    Observation,
    Steps,
    construct,
    data_keys,
    describe,
    describe_instance,
    dump_regression,
    file_name,
    first_difference,
    forget_process_tables,
    generate_sequence,
    import_name,
    is_state,
    load_regression,
    module_order,
    normalize,
    observe,
    one_shot,
    outcome,
    read_state,
    render_steps,
    shrink,
    state_of,
)

SLOW = bool(os.environ.get("HOTRELOAD_SLOW"))
# The optional libraries whose classes the generator may write: those installed.
LIBRARIES = frozenset(name for name in ("pydantic", "attrs") if importlib.util.find_spec(name))

# Engine gaps known today. Each is shown by a minimized regression in tests/regressions/, and
# most by a switch of the generator (oracle_support.GAPS) whose edits provoke it:
# {file stem: (switch or None, cause)}. The generator steers around those switches
# (HOTRELOAD_ORACLE_ALL=1 makes every edit anyway) and each regression is a strict xfail: once
# the engine is fixed it XPASSes, which fails the run; then delete its entry here, and the
# generator makes those edits again.
KNOWN_GAPS: dict[str, tuple[str | None, str]] = {
    "overload-stub-removed": (
        "overload-stubs",
        "typing's process-wide overload registry (typing._overload_registry, keyed by module, "
        "qualified name and first line) keeps the removed stub: typing.get_overloads lists it",
    ),
    "overload-stubs-registered-again-by-a-whole-module-run": (
        "overload-stubs",
        "the same registry: the stub, run again at its new line, is added next to its entry "
        "under the old line, so typing.get_overloads lists it twice",
    ),
    "logging-filter-class-renamed": (
        "install-edited",
        "the changed addFilter statement runs and the old Filter_1 instance stays on the "
        "process-wide logger: two filters where a fresh import has one",
    ),
    "logging-filter-statements-reordered": (
        "install-order",
        "a statement that only moved does not run again (docs/state.md), so the logger keeps "
        "its filters in the old order, which decides what a record becomes",
    ),
    "logging-filter-added-above-another": (
        "install-order",
        "the new addFilter statement runs and appends its filter after the one already on the "
        "logger; a fresh import adds it first",
    ),
    "registry-added-above-while-a-handler-is-edited": (
        "handler-added-with-edit",
        "the new dispatcher's `def _` is paired with the edited `def _` below it: show_2 "
        "dispatches str to the edited handler's body, not to its own",
    ),
    "singledispatch-two-handlers-for-one-type-first-edited": (
        "same-type-handlers",
        "the body edit of the first handler patches the function registered under tuple, "
        "which is the second handler's (registered last, it overrides): tuple dispatches to "
        "the first handler's new body",
    ),
    "star-import-added-reruns-a-module-with-a-logger-filter": (
        "star-import-edited",
        "a star import's names are unknown until it runs, so a changed one makes the whole "
        "module run again (docs/state.md), and its addFilter adds a second filter to the "
        "process-wide logger",
    ),
    "decorator-swapped-and-body-edited-old-reference": (
        None,
        "since 950f2f1 (pairing keeps a changed header's decorator objects), the function "
        "taken before the edit keeps the old body: its new version is not merged into it",
    ),
}
AVOID = (
    frozenset()
    if os.environ.get("HOTRELOAD_ORACLE_ALL")
    else frozenset(gap for gap, _ in KNOWN_GAPS.values() if gap is not None)
)
NORMAL_SEQUENCES = 200
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

    @property
    def signature(self) -> str:
        """What stays the same while a sequence shrinks: the category, and where the first
        difference is (its path without the run's module prefix), or a crash's last line."""
        lines = [line for line in self.message.splitlines() if line.strip()]
        if self.category == "crash":
            where = lines[-1] if lines else ""
        else:
            where = lines[0].split(": ")[0] if lines else ""
        return f"{self.category}: {re.sub(r'hrmod[A-Z0-9]+_', '', where)}"


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
        forget_process_tables(restore_modules(modules))
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
        # Data files the modules read at import: written, never imported.
        self.data = data_keys(steps[0])
        self.names = {stem: files.name(stem) for stem in [*self.stems, *self.data]}
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
        sources = {self.names[s]: self.real(step[s]) for s in [*self.stems, *self.data]}
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
        for key in self.data:
            self.write_data(key, first[key])
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
        if not {*self.stems, *self.data} <= set(step):
            return Failure(index, "invalid", "a module disappeared")
        appeared = [s for s in module_order(step) if s not in self.stems]
        self.names.update({stem: self.files.name(stem) for stem in appeared})
        self.stems = module_order(step)
        previous = self.steps[index - 1]
        changed = [s for s in [*self.stems, *self.data] if s in appeared or step[s] != previous[s]]
        for stem in changed:
            if stem in self.data:
                self.write_data(stem, step[stem])
            else:
                self.files.write(self.names[stem], self.real(step[stem]), dedent=False)
        self.submit(step)
        try:
            report = self.reloader.check()
        except Exception:
            self.fresh.result()
            return Failure(index, "crash", traceback.format_exc())
        fresh = self.fresh.result()
        if fresh.observation is not None and appeared:
            self.import_appeared(appeared)
        if fresh.observation is not None:
            failure = self.good_step(index, report, fresh.observation)
        else:
            failure = self.broken_step(index, report, changed, fresh.error or "")
        if failure is not None:
            return failure
        difference = self.held.check(self.modules, fresh.observation or self.previous)
        if difference:
            return Failure(index, "old reference", difference)
        difference = self.check_user_namespace(fresh.observation or self.previous)
        if difference:
            return Failure(index, "user namespace", difference)
        self.held.capture(self.modules)
        self.base_state = normalize(read_state(self.modules))
        return None

    def import_appeared(self, appeared: list[str]) -> None:
        """The user imports the modules that appeared in this step, in a cell after the check."""
        importlib.invalidate_caches()
        for stem in appeared:
            importlib.import_module(import_name(self.names[stem]))
        self.modules = [sys.modules[import_name(self.names[s])] for s in self.stems]
        self.reloader.discover()  # as the extension's post_run_cell does

    def write_data(self, key: str, text: str) -> None:
        """Write a data file, its mtime moved a second past the previous one (never a sleep)."""
        path = self.files.root / file_name(self.names[key])
        previous = path.stat().st_mtime_ns if path.exists() else 0
        path.write_text(text, encoding="utf-8")
        bump(path, after=previous)

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
        live = {m.__name__: vars(m) for m in self.modules}
        for alias in sorted(self.user_checked):
            module, name = self.user_imports[alias]
            want = expected["modules"][module]["names"].get(name)
            if want is None:
                self.user_checked.discard(alias)
                continue
            if live[module].get(name, self) is self.user_ns[alias]:
                continue  # the module's own object, whose observation was compared already
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
    """Functions, classes, instances, enum members and handlers taken when they first appeared.

    An old function must behave like the module's current one; an old instance like a new one
    made with the same argument, when their attributes are equal (an edited ``__init__`` changes
    new instances only); an instance of a class that had to be replaced must have moved to the
    new class, unless its layout differs (``__slots__``, a named tuple's length: it cannot move,
    docs/limitations.md); an old enum member must still be the member of that name; a handler
    taken from a registry (all named ``_``) must return what the fresh import's handler with its
    tag returns; and ``isinstance`` of an old instance against a live protocol must answer as
    for a fresh instance in the fresh import.
    """

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Any] = {}
        self.full_names: dict[tuple[str, str], str] = {}
        self.instances: dict[tuple[str, str], Any] = {}
        self.members: dict[tuple[str, str], tuple[type, dict[str, Any]]] = {}
        self.handlers: dict[int, Any] = {}

    def capture(self, modules: list[types.ModuleType]) -> None:
        generated = frozenset(m.__name__ for m in modules)
        for module in modules:
            for name, value in vars(module).items():
                key = (module.__name__, name)
                self._capture_handlers(value, generated)
                if isinstance(value, type) and issubclass(value, enum.Enum):
                    self._capture_members(key, value)
                if name.startswith("__") or name == "_" or key in self.objects:
                    continue
                if isinstance(value, (types.FunctionType, type)):
                    if value.__module__ != module.__name__:
                        continue
                    self.objects[key] = value
                    self.full_names[key] = f"{value.__module__}.{value.__qualname__}"
                    if isinstance(value, type) and not issubclass(value, enum.Enum):
                        with contextlib.suppress(Exception):
                            self.instances[key] = construct(value)

    def _capture_members(self, key: tuple[str, str], cls: type[enum.Enum]) -> None:
        held = self.members.get(key)
        if held is None or held[0] is not cls:
            held = self.members[key] = (cls, {})
        for member in cls:
            held[1].setdefault(member.name, member)

    def _capture_handlers(self, value: Any, generated: frozenset[str]) -> None:
        registry = getattr(value, "registry", None)
        if isinstance(value, types.FunctionType) and isinstance(registry, types.MappingProxyType):
            candidates: Iterable[Any] = registry.values()
        elif isinstance(value, list):
            candidates = value
        else:
            return
        for handler in candidates:
            if (
                isinstance(handler, types.FunctionType)
                and handler.__name__ == "_"
                and handler.__module__ in generated
            ):
                self.handlers.setdefault(id(handler), handler)

    def check(self, modules: list[types.ModuleType], expected: Observation) -> str | None:
        """The first held reference that does not behave as ``expected`` (the fresh import's
        observation, or the previous one after a broken step) says it should."""
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
                    if not _movable(type(instance), current):
                        # Documented: an instance whose layout differs cannot move.
                        del self.instances[key]
                        continue
                    return f"an instance of the replaced class {where} was not moved to it"
            if instance is None:
                continue
            try:
                new = construct(current)
            except Exception:
                continue
            if normalize(describe(state_of(instance), generated)) == normalize(
                describe(state_of(new), generated)
            ):
                difference = first_difference(
                    normalize(describe_instance(instance, generated, 0)),
                    normalize(describe_instance(new, generated, 0)),
                )
                if difference:
                    return f"an instance made before the edits differs from {where}(): {difference}"
        return (
            self._check_members(by_name)
            or self._check_handlers(expected)
            or self._check_protocols(by_name, expected, generated)
        )

    def _check_members(self, by_name: dict[str, types.ModuleType]) -> str | None:
        for key, (cls, members) in list(self.members.items()):
            if vars(by_name[key[0]]).get(key[1]) is not cls:
                # Replaced (documented for int and str enums whose values change) or gone.
                del self.members[key]
                continue
            for name, member in list(members.items()):
                live = cls.__members__.get(name)
                if live is None or live.name != name:  # removed, or now an alias
                    del members[name]
                elif live is not member:
                    return (
                        f"the enum member {key[0]}.{key[1]}.{name} taken before the edits is not "
                        f"the live member: {member!r} is not {live!r}"
                    )
        return None

    def _check_handlers(self, expected: Observation) -> str | None:
        # What each handler returns in the fresh import, by module and tag: a handler moved to
        # another module is another definition there, as a moved function is.
        results: dict[tuple[str, str], set[str]] = {}
        for module, entry in expected["modules"].items():
            for text in _strings(entry):
                match = HANDLER_RESULT.match(text)
                if match:
                    results.setdefault((module, match.group(1)), set()).add(text)
        for ident, handler in list(self.handlers.items()):
            try:
                result = repr(handler(CALL_ARG))
            except Exception as exc:
                return f"a handler taken before the edits raises {type(exc).__name__}: {exc}"
            match = HANDLER_RESULT.match(result)
            if match is None:
                return f"a handler taken before the edits returns {result}"
            want = results.get((handler.__module__, match.group(1)))
            if want is None:  # no such handler there in the fresh import: removed or overridden
                del self.handlers[ident]
            elif result not in want:
                return (
                    f"the handler {match.group(1)} taken before the edits returns {result}; "
                    f"in a fresh import it returns {' or '.join(sorted(want))}"
                )
        return None

    def _check_protocols(
        self,
        by_name: dict[str, types.ModuleType],
        expected: Observation,
        generated: frozenset[str],
    ) -> str | None:
        for module, entry in expected["modules"].items():
            for name, answers in entry.get("protocols", {}).items():
                proto = vars(by_name[module]).get(name)
                if not isinstance(proto, type):
                    continue
                for key, instance in self.instances.items():
                    cls = type(instance)
                    want = answers.get(f"{cls.__module__}.{cls.__qualname__}")
                    if want is None or self.objects.get(key) is not cls:
                        continue
                    check = functools.partial(isinstance, instance, proto)
                    have = normalize(outcome(check, generated, 0))
                    if have != want:
                        return (
                            f"isinstance(an instance of {key[0]}.{key[1]} made before the edits, "
                            f"{module}.{name}): {have} != {want} for a fresh instance"
                        )
        return None


# The type attributes CPython compares before it lets `obj.__class__ = new` change an instance's
# class (Objects/typeobject.c, compatible_for_assignment), and its flag for GC-tracked types.
_LAYOUT = ("__basicsize__", "__itemsize__", "__dictoffset__", "__weakrefoffset__")
_HAVE_GC = 1 << 14


def _same_layout(a: type, b: type) -> bool:
    return all(getattr(a, n) == getattr(b, n) for n in _LAYOUT) and (
        a.__flags__ & _HAVE_GC == b.__flags__ & _HAVE_GC
    )


def _solid_base(cls: type) -> type:
    """The nearest class (``cls`` or a base) that adds to the instance layout."""
    while cls.__base__ is not None and _same_layout(cls, cls.__base__):
        cls = cls.__base__
    return cls


def _movable(old: type, new: type) -> bool:
    """Whether an instance of ``old`` can move to ``new``: CPython's rule for assigning
    ``__class__`` (same solid base, or sibling solid bases adding the same slots), and the
    engine's for named tuples (the same number of fields, docs/limitations.md)."""
    a, b = _solid_base(old), _solid_base(new)
    compatible = a is b or (
        a.__base__ is b.__base__
        and _same_layout(a, b)
        and [n for n in vars(a).get("__slots__", ()) if n not in ("__dict__", "__weakref__")]
        == [n for n in vars(b).get("__slots__", ()) if n not in ("__dict__", "__weakref__")]
    )
    return compatible and len(getattr(old, "_fields", ())) == len(getattr(new, "_fields", ()))


def _strings(data: Any) -> Iterator[str]:
    """Every string inside a JSON observation."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


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
        return found is not None and found.signature == failure.signature

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
    steps = generate_sequence(seed, STEPS, libraries=LIBRARIES, avoid=AVOID)
    failure = replay(steps, tmp_path, fresh)
    if failure is not None:
        pytest.fail(report_failure(steps, failure, tmp_path, fresh, f"seed {seed}"), pytrace=False)


def _regression(path: Path) -> Any:
    """A regression file as a test parameter: a strict xfail while its cause is known."""
    known = KNOWN_GAPS.get(path.stem)
    cause = known[1] if known else None
    if path.stem.startswith("overload-") and sys.version_info < (3, 11):
        # typing keeps a registry of overloads (typing.get_overloads) only from Python 3.11.
        cause = None
    marks = [pytest.mark.xfail(reason=cause, strict=True)] if cause else []
    return pytest.param(path, id=path.stem, marks=marks)


@pytest.mark.parametrize("path", [_regression(p) for p in sorted(REGRESSIONS.glob("*.json"))])
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


def ignores_data_files(prefix: str) -> Reloader:
    """An engine that does not follow data files read at import."""
    return Reloader(strict=True, data_files=False, modules=_OnlyPrefix(prefix))


def _changes_only_data_a_module_reads(steps: Steps) -> bool:
    """Whether some step changes a data file, and no module, while a module reads that file."""
    for before, after in itertools.pairwise(steps):
        changed = [key for key in after if after[key] != before.get(key)]
        if changed and all(key in data_keys(after) for key in changed):
            sources = [after[key] for key in module_order(after)]
            if any(f"{PREFIX}{key}" in text for key in changed for text in sources):
                return True
    return False


def test_generated_data_files_catch_a_session_that_does_not_follow_them(
    tmp_path: Path, fresh: FreshProcess
) -> None:
    """The generator's data file edits matter: ignoring them is a mismatch with a fresh import."""
    steps = next(
        steps
        for seed in itertools.count()
        if _changes_only_data_a_module_reads(
            steps := generate_sequence(seed, STEPS, libraries=LIBRARIES, avoid=AVOID)
        )
    )
    assert replay(steps, tmp_path, fresh) is None
    failure = replay(steps, tmp_path, fresh, ignores_data_files)
    assert failure is not None
    assert failure.category in ("mismatch", "user namespace"), failure


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


def _first_seed(wanted: Callable[[Steps], bool]) -> int:
    return next(s for s in itertools.count() if wanted(generate_sequence(s, STEPS)))


# One sequence of plain modules, one of a package with relative imports, and one that fills the
# process-wide tables the worker must forget between requests (loggers, typing's overloads).
WORKER_SEEDS = [
    _first_seed(lambda steps: "pkg.__init__" not in steps[0]),
    _first_seed(lambda steps: "pkg.__init__" in steps[0]),
    _first_seed(
        lambda steps: all(
            any(word in text for step in steps for text in step.values())
            for word in ("addFilter", "@typing.overload\ndef", "register(")
        )
    ),
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


def test_known_gaps_name_a_regression_and_a_switch_that_exist() -> None:
    for stem, (gap, cause) in KNOWN_GAPS.items():
        assert (REGRESSIONS / f"{stem}.json").is_file(), stem
        assert gap is None or gap in GAPS, gap
        assert cause
