"""Generated edit sequences: after every edit the live module behaves like a fresh import.

A seeded generator builds a module of constants, functions, classes and derived statements,
then applies random edits (change a body, a constant, a method; add, remove, move definitions;
insert blank lines). After each step the live module, and the *old* objects captured at step 0,
are compared with a fresh import of the same file. ``HOTRELOAD_SLOW=1`` runs many more sequences.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from hotreload_ext import Reloader
from tests.conftest import ModuleFiles, check

SEQUENCES = 2000 if os.environ.get("HOTRELOAD_SLOW") else 200
STEPS = 6


@dataclass
class Model:
    """An abstract module: rendered to source after every edit."""

    consts: dict[str, int] = field(default_factory=dict)
    funcs: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (uses, k)
    classes: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> method -> k
    # Module-level state (`S_n = [k]`) that the test mutates: it must survive every edit that
    # does not change its own line.
    states: dict[str, int] = field(default_factory=dict)
    derived: bool = False
    padding: int = 0
    order: list[str] = field(default_factory=list)
    # Filler functions after each definition make the file big enough (hundreds of lines) for
    # the engine's fast path, which parses only the edited region.
    filler: int = 0

    def render(self) -> str:
        lines = ["\n" * self.padding]
        for name in self.order:
            if name in self.consts:
                lines.append(f"{name} = {self.consts[name]}\n")
            elif name in self.states:
                lines.append(f"{name} = [{self.states[name]}]\n")
            elif name in self.funcs:
                uses, k = self.funcs[name]
                body = f"return x * {k} + {uses}" if uses else f"return x * {k}"
                lines.append(f"def {name}(x):\n    {body}\n")
            elif name in self.classes:
                methods = self.classes[name]
                class_lines = [
                    f"class {name}:\n",
                    f"    tag = {len(methods)}\n",
                    "    store = []\n",
                ]
                for method, k in methods.items():
                    class_lines.append(f"    def {method}(self):\n        return {k} + self.tag\n")
                lines.append("".join(class_lines))
            for j in range(self.filler):
                lines.append(f"def _pad_{name}_{j}(x):\n    return x + {j}\n")
        if self.derived and len(self.consts) >= 1:
            lines.append(f"DERIVED = {' + '.join(sorted(self.consts))}\n")
        # Never a zero-byte file: hotreload takes one for a save in progress and waits.
        return "\n".join(lines) or "# no definitions left\n"


def edit(model: Model, rng: random.Random, counter: list[int]) -> None:
    counter[0] += 1
    fresh = f"n{counter[0]}"
    choice = rng.randrange(12)
    if choice == 10:
        model.states[f"S_{fresh}"] = rng.randrange(5)
        model.order.insert(rng.randrange(len(model.order) + 1), f"S_{fresh}")
    elif choice == 11 and model.states:
        model.states[rng.choice(sorted(model.states))] = rng.randrange(5)
    elif choice == 0 or not model.order:
        model.consts[f"C_{fresh}"] = rng.randrange(100)
        model.order.insert(rng.randrange(len(model.order) + 1), f"C_{fresh}")
    elif choice == 1 and model.consts:
        model.consts[rng.choice(sorted(model.consts))] = rng.randrange(100)
    elif choice == 2:
        uses = rng.choice([*sorted(model.consts), ""]) if model.consts else ""
        model.funcs[f"f_{fresh}"] = (uses, rng.randrange(10))
        model.order.append(f"f_{fresh}")
    elif choice == 3 and model.funcs:
        name = rng.choice(sorted(model.funcs))
        model.funcs[name] = (model.funcs[name][0], rng.randrange(10, 20))
    elif choice == 4:
        model.classes[f"K_{fresh}"] = {"m0": rng.randrange(10)}
        model.order.append(f"K_{fresh}")
    elif choice == 5 and model.classes:
        cls = model.classes[rng.choice(sorted(model.classes))]
        cls[f"m_{fresh}" if rng.random() < 0.5 else rng.choice(sorted(cls))] = rng.randrange(50)
    elif choice == 6 and model.classes:
        cls = model.classes[rng.choice(sorted(model.classes))]
        if len(cls) > 1:
            del cls[rng.choice(sorted(cls))]
    elif choice == 7 and len(model.order) > 1:
        name = model.order.pop(rng.randrange(len(model.order)))
        model.order.insert(rng.randrange(len(model.order) + 1), name)
    elif choice == 8:
        model.padding = rng.randrange(4)
        model.derived = not model.derived
    elif model.order:
        name = rng.choice(model.order)
        # Remove a definition unless a function still uses it (that would be a broken module).
        if not any(uses == name for uses, _ in model.funcs.values()):
            model.order.remove(name)
            model.consts.pop(name, None)
            model.funcs.pop(name, None)
            model.classes.pop(name, None)
            model.states.pop(name, None)


def touch_state(live: types.ModuleType, model: Model, seen: dict[str, Any]) -> dict[str, Any]:
    """Mutate every state list once, as a user would; return them by name."""
    current: dict[str, Any] = {}
    for state in model.states:
        value = getattr(live, state)
        if seen.get(state) is not value:
            value.append("user")
        current[state] = value
    for cls_name in model.classes:
        # A class attribute holding state: appended to, and never reset by a method edit.
        store = getattr(live, cls_name).store
        key = f"{cls_name}.store"
        assert seen.get(key, store) is store, f"{key} was rebuilt"
        current[key] = store
    return current


def fresh_import(path: str, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def public(module: types.ModuleType) -> dict[str, Any]:
    """The names compared with a fresh import: state (``S_*``) is checked on its own."""
    return {
        k: v for k, v in vars(module).items() if not k.startswith("__") and not k.startswith("S_")
    }


def behaviour(value: Any, fresh_cls: type | None = None) -> Any:
    """What a value does, comparable across the live and the fresh module."""
    if isinstance(value, types.FunctionType):
        return ("function", value(3))
    if isinstance(value, type):
        instance = value()
        methods = sorted(k for k, v in vars(value).items() if isinstance(v, types.FunctionType))
        # Every generated class has a `tag`; mypy knows only `type` here.
        return ("class", value.tag, {m: getattr(instance, m)() for m in methods})  # type: ignore[attr-defined]
    return ("value", value)


def assert_same(live: types.ModuleType, fresh: types.ModuleType, old: dict[str, Any]) -> None:
    live_names, fresh_names = public(live), public(fresh)
    assert sorted(live_names) == sorted(fresh_names)
    for name, value in fresh_names.items():
        assert behaviour(live_names[name]) == behaviour(value), name
        if name in old and type(old[name]) is type(value) and not isinstance(value, int):
            # The object captured before any edit runs the new code too.
            assert behaviour(old[name]) == behaviour(value), f"old reference {name}"
            assert old[name] is live_names[name], f"identity of {name}"


@pytest.mark.parametrize("seed", range(SEQUENCES))
def test_edit_sequence_matches_fresh_import(
    files: ModuleFiles, reloader: Reloader, seed: int
) -> None:
    run_sequence(files, reloader, seed, filler=0)


@pytest.mark.parametrize("seed", range(SEQUENCES // 4))
def test_big_module_edit_sequence_matches_fresh_import(
    files: ModuleFiles, reloader: Reloader, seed: int
) -> None:
    run_sequence(files, reloader, seed, filler=40)


def run_sequence(files: ModuleFiles, reloader: Reloader, seed: int, *, filler: int) -> None:
    rng = random.Random(seed)
    model = Model(filler=filler)
    counter = [0]
    for _ in range(3):
        edit(model, rng, counter)
    name = files.name("gen")
    live = files.load(name, model.render())
    reloader.discover()
    old = public(live)
    old_instances = {k: v() for k, v in old.items() if isinstance(v, type)}
    states = touch_state(live, model, {})
    for step in range(STEPS):
        before = dict(model.states)
        edit(model, rng, counter)
        source = model.render()
        path = files.write(name, source, dedent=False)
        check(reloader)
        fresh = fresh_import(str(path), f"{name}_fresh{step}")
        try:
            assert_same(live, fresh, old)
            for state, k in model.states.items():
                value = getattr(live, state)
                if before.get(state) == k:
                    # Its line did not change: the user's mutation survives the edit.
                    assert value is states[state], f"state {state} was rebuilt"
                    assert value == [k, "user"], state
                else:
                    assert value == [k], state
            states = touch_state(live, model, states)
            for cls_name, instance in old_instances.items():
                fresh_cls = getattr(fresh, cls_name, None)
                if fresh_cls is not None:
                    assert behaviour(type(instance)) == behaviour(fresh_cls)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, step {step}, source:\n{source}") from exc
        finally:
            sys.modules.pop(f"{name}_fresh{step}", None)
