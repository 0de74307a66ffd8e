"""The undo log (a foundation of stages 6 to 8) that makes one reload all-or-nothing.

Every in-place change the reload makes to a live object (a function's code, a class attribute, a
closure cell, a module-level binding) is recorded here first. If anything fails before the reload
commits, :meth:`Journal.rollback` undoes the changes in reverse order, so the module and every
object it owns are exactly as they were.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import types
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["LAZY_ANNOTATIONS", "MISSING", "Journal", "annotations_of", "set_closure"]


class _Missing:
    """Marks an attribute or binding that did not exist."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()

_FUNCTION_ATTRS: tuple[str, ...] = (
    "__defaults__",
    "__kwdefaults__",
    "__doc__",
    "__dict__",
    "__name__",
    "__qualname__",
    "__module__",
)
if sys.version_info >= (3, 12):
    _FUNCTION_ATTRS += ("__type_params__",)

# Python 3.14 (PEP 649, PEP 749): a function's annotations are made on first access, by its
# `__annotate__` function; they may name what is defined later in the module, or imported only
# under `if TYPE_CHECKING:`. Reading `__annotations__` would run it (a NameError for those);
# copying `__annotate__` keeps them lazy, and setting it drops what the function computed before.
LAZY_ANNOTATIONS = sys.version_info >= (3, 14)


def annotations_of(function: types.FunctionType) -> tuple[str, Any]:
    """``(attribute, value)`` that gives another function these annotations, unevaluated."""
    if LAZY_ANNOTATIONS:
        annotate = getattr(function, "__annotate__", None)
        if annotate is not None:
            return "__annotate__", annotate
    return "__annotations__", function.__annotations__


# `__closure__` is read-only from Python. CPython's public C API has a setter; without it a
# method that starts using zero-argument `super()` (one more free variable) could not be patched
# in place and old bound methods would keep running the old body.
_set_closure_api = ctypes.pythonapi.PyFunction_SetClosure
_set_closure_api.argtypes = [ctypes.py_object, ctypes.py_object]
_set_closure_api.restype = ctypes.c_int


def set_closure(
    function: types.FunctionType,
    code: types.CodeType,
    closure: tuple[types.CellType, ...] | None,
) -> None:
    """Give ``function`` a new code object whose free variables differ from the old one's.

    CPython checks that ``len(__closure__)`` equals the code's free-variable count when
    ``__code__`` is assigned, so the closure is swapped first. Between the two steps the
    function must not run: the switch interval is raised so no other thread is scheduled there.
    (On a free-threaded build other threads run in parallel regardless; docs/limitations.md,
    "Python 3.14", says what that means.)
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        if _set_closure_api(function, closure) != 0:  # pragma: no cover - C API contract
            raise SystemError("PyFunction_SetClosure failed")
        function.__code__ = code
    finally:
        sys.setswitchinterval(interval)


class Journal:
    """Records undo actions; rolls them back in reverse order."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._saved_functions: set[int] = set()
        self._saved_classes: set[int] = set()
        self._keep_alive: list[object] = []

    def __len__(self) -> int:
        return len(self._undo)

    def save_function(self, function: types.FunctionType) -> None:
        """Remember every patchable attribute of ``function`` (once per reload)."""
        if id(function) in self._saved_functions:
            return
        self._saved_functions.add(id(function))
        self._keep_alive.append(function)
        code = function.__code__
        closure = function.__closure__
        attrs = {name: getattr(function, name) for name in _FUNCTION_ATTRS}
        attrs["__dict__"] = dict(attrs["__dict__"])
        annotations, value = annotations_of(function)
        attrs[annotations] = value

        def undo() -> None:
            if function.__closure__ is not closure:
                set_closure(function, code, closure)
            else:
                function.__code__ = code
            for name, value in attrs.items():
                setattr(function, name, value)

        self._undo.append(undo)

    def save_class(self, cls: type) -> None:
        """Remember the whole ``__dict__`` of ``cls`` (once per reload)."""
        if id(cls) in self._saved_classes:
            return
        self._saved_classes.add(id(cls))
        self._keep_alive.append(cls)
        before = dict(cls.__dict__)

        def undo() -> None:
            now = dict(cls.__dict__)
            for name in now:
                if name not in before and name not in ("__dict__", "__weakref__"):
                    type.__delattr__(cls, name)
            for name, value in before.items():
                if name in ("__dict__", "__weakref__"):
                    continue
                if now.get(name, MISSING) is not value:
                    type.__setattr__(cls, name, value)

        self._undo.append(undo)

    def save_cell(self, cell: types.CellType) -> None:
        """Remember the contents of a closure cell."""
        try:
            contents = cell.cell_contents
        except ValueError:
            contents = MISSING

        def undo() -> None:
            if contents is MISSING:
                with contextlib.suppress(ValueError):
                    del cell.cell_contents
            else:
                cell.cell_contents = contents

        self._undo.append(undo)

    def save_mapping(self, mapping: MutableMapping[str, Any]) -> None:
        """Remember every binding of a namespace (a module ``__dict__``)."""
        before = dict(mapping)

        def undo() -> None:
            # Restore key by key rather than clear() + update(): another thread reading the
            # module meanwhile never sees it empty.
            for name in [n for n in mapping if n not in before]:
                del mapping[name]
            for name, value in before.items():
                if mapping.get(name, MISSING) is not value:
                    mapping[name] = value

        self._undo.append(undo)

    def add(self, undo: Callable[[], None]) -> None:
        """Record an arbitrary undo action."""
        self._undo.append(undo)

    def rollback(self) -> list[BaseException]:
        """Undo everything, newest first. Returns the errors of undo steps that failed."""
        errors: list[BaseException] = []
        while self._undo:
            action = self._undo.pop()
            try:
                action()
            except Exception as exc:  # pragma: no cover - an undo step must not stop the rest
                errors.append(exc)
        self._keep_alive.clear()
        return errors

    def commit(self) -> None:
        """Forget the undo actions: the changes stay."""
        self._undo.clear()
        self._keep_alive.clear()
        self._saved_functions.clear()
        self._saved_classes.clear()
