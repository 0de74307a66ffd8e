"""Stage 6 (patch): line numbers of unchanged definitions that moved.

When lines are inserted or removed above a definition that did not change, the definition is
not run again; its code objects get their line numbers shifted instead, so tracebacks and
``inspect.getsource`` keep pointing at the right line.

This module must never import IPython.
"""

from __future__ import annotations

import contextlib
import types
from typing import Any

from ._journal import Journal
from ._static import is_lru_wrapper

__all__ = ["shift_after", "shift_lines"]


def shift_lines(
    obj: Any,
    module_name: str,
    filename: str,
    span: tuple[int, int],
    delta: int,
    journal: Journal,
) -> int:
    """Move the line numbers of the code defined between ``first`` and ``last`` by ``delta``.

    Used for definitions that did not change but moved because lines were inserted or removed
    above them, so tracebacks and ``inspect.getsource`` keep pointing at the right line.
    ``span`` is the statement's old first and last line. Returns how many functions moved.
    """
    first, last = span
    seen: set[int] = set()
    count = 0

    def visit(value: Any) -> None:
        nonlocal count
        if id(value) in seen:
            return
        seen.add(id(value))
        kind = type(value)
        if kind is types.FunctionType:
            code = value.__code__
            if code.co_filename == filename and first <= code.co_firstlineno <= last:
                journal.save_function(value)
                value.__code__ = _shift_code(code, delta)
                count += 1
            for cell in value.__closure__ or ():
                with contextlib.suppress(ValueError):
                    visit(cell.cell_contents)
            wrapped = value.__dict__.get("__wrapped__")
            if wrapped is not None:
                visit(wrapped)
        elif issubclass(kind, (classmethod, staticmethod)):
            visit(value.__func__)
        elif issubclass(kind, property):
            for accessor in (value.fget, value.fset, value.fdel):
                if accessor is not None:
                    visit(accessor)
        elif issubclass(kind, type) and value.__module__ == module_name:
            firstlineno = value.__dict__.get("__firstlineno__")
            if isinstance(firstlineno, int) and first <= firstlineno <= last:
                # Python 3.13+ reads a class's position from here for inspect.getsource.
                journal.save_class(value)
                type.__setattr__(value, "__firstlineno__", firstlineno + delta)
            for item in list(value.__dict__.values()):
                visit(item)
        elif is_lru_wrapper(value):
            visit(value.__wrapped__)

    visit(obj)
    return count


def _shift_code(code: types.CodeType, delta: int) -> types.CodeType:
    consts = tuple(
        _shift_code(c, delta) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    # Line tables are relative to co_firstlineno since Python 3.10, so moving the first line
    # moves every line of the body.
    return code.replace(co_firstlineno=code.co_firstlineno + delta, co_consts=consts)


def shift_after(
    namespace: dict[str, Any],
    module_name: str,
    filename: str,
    old_end: int,
    delta: int,
    journal: Journal,
) -> None:
    """Move the line numbers of everything defined after line ``old_end`` by ``delta``."""
    if delta == 0:
        return
    for value in list(namespace.values()):
        shift_lines(value, module_name, filename, (old_end + 1, 1 << 30), delta, journal)
