"""Stage 6 (patch): forwarding functions, for old references to an object they can't become.

When a function is replaced by an object it cannot be merged with (a decorator from another
module added, a decorator removed, ``def f`` turned into ``f = other``), the references taken
before the edit must still behave like the module's new ``f``. The old function's code is then
replaced by a small forwarder that calls the new object, with the same parameters so
``inspect.signature`` and keyword calls keep working.

Which old function forwards to which object is a process-wide table (:data:`FORWARDS`): a later
reload of the target's module refreshes the forwarders' signatures. Every change to it is
journaled like any other change, so a reload that is rolled back leaves no entry behind: a
later good reload must never point an old function at an object a failed reload made.

This module must never import IPython.
"""

from __future__ import annotations

import inspect
import types
import weakref
from typing import Any

from ._journal import MISSING, Journal, set_closure

__all__ = ["FORWARDS", "ForwardTable"]


class ForwardTable:
    """Old functions that now call their replacement, while both live."""

    def __init__(self) -> None:
        self._targets: weakref.WeakKeyDictionary[types.FunctionType, Any] = (
            weakref.WeakKeyDictionary()
        )

    def __len__(self) -> int:
        return len(self._targets)

    def target(self, old: types.FunctionType) -> Any:
        """What ``old`` forwards to, or MISSING."""
        return self._targets.get(old, MISSING)

    def forward(self, old: types.FunctionType, new: Any, journal: Journal) -> None:
        """Make ``old`` call ``new`` from now on; journaled, table entry included."""
        before = self._targets.get(old, MISSING)
        journal.add(lambda: self._restore(old, before))
        self._targets[old] = new
        _install(old, new, journal)

    def refresh(self, module_name: str, journal: Journal) -> None:
        """Copy the current signature of every target defined in ``module_name`` again.

        A forwarding function copies its target's signature and docstring; the target may
        have been patched since.
        """
        for old, target in list(self._targets.items()):
            if type(target) is types.FunctionType and target.__module__ == module_name:
                _install(old, target, journal)

    def _restore(self, old: types.FunctionType, before: Any) -> None:
        if before is MISSING:
            self._targets.pop(old, None)
        else:
            self._targets[old] = before


FORWARDS = ForwardTable()


def _install(old: types.FunctionType, new: Any, journal: Journal) -> None:
    """Give ``old`` the code of a forwarder to ``new`` (journaled)."""
    journal.save_function(old)
    template = _forwarder(new)
    set_closure(old, template.__code__, template.__closure__)
    old.__defaults__ = getattr(new, "__defaults__", None)
    old.__kwdefaults__ = getattr(new, "__kwdefaults__", None)
    old.__doc__ = getattr(new, "__doc__", None)
    # What `functools.wraps` put there (`__wrapped__`) must follow too.
    old.__dict__.clear()
    if type(new) is types.FunctionType:
        old.__dict__.update(new.__dict__)


def _forwarder(target: Any) -> types.FunctionType:
    """A function that calls ``target``, with ``target``'s own parameters when it has code.

    Keeping the parameter names keeps ``inspect.signature`` and keyword calls of the old
    references right.
    """
    code = getattr(target, "__code__", None) if type(target) is types.FunctionType else None
    if code is None:
        params, call = "*args, **kwargs", "*args, **kwargs"
    else:
        names = code.co_varnames
        positional = code.co_argcount
        keyword_only = code.co_kwonlyargcount
        pieces, arguments = [], []
        for index, parameter in enumerate(names[:positional]):
            pieces.append(parameter)
            arguments.append(parameter)
            if index + 1 == code.co_posonlyargcount:
                pieces.append("/")
        cursor = positional + keyword_only
        if code.co_flags & inspect.CO_VARARGS:
            pieces.append("*" + names[cursor])
            arguments.append("*" + names[cursor])
            cursor += 1
        elif keyword_only:
            pieces.append("*")
        for parameter in names[positional : positional + keyword_only]:
            pieces.append(parameter)
            arguments.append(f"{parameter}={parameter}")
        if code.co_flags & inspect.CO_VARKEYWORDS:
            pieces.append("**" + names[cursor])
            arguments.append("**" + names[cursor])
        params, call = ", ".join(pieces), ", ".join(arguments)
    source = (
        "def make(__hotreload_target__):\n"
        f"    def forward({params}):\n"
        f"        return __hotreload_target__({call})\n"
        "    return forward\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    forward: types.FunctionType = namespace["make"](target)
    return forward
