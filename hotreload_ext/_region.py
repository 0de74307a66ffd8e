"""Stage 2 (parse), fast path: parse only the part of a big file that an edit touched.

Parsing a file of 5,000 functions takes about 200 ms, and analysing every statement more: far
too much for a one-line edit. Most edits change a few adjacent lines, so:

1. The changed lines are found by comparing the old and new text from both ends (C-speed string
   comparisons, no line-by-line loop).
2. They are widened to whole top-level statements using *anchors*: the first lines of the
   module's own top-level functions, read from their code objects (``co_firstlineno``). A code
   object's first line is a ``def`` or decorator line the compiler saw, so an anchor at column 0
   is a real statement boundary, never a line inside a string or a bracket. Only that region is
   parsed, in the old and the new text.
3. The region is safe to reload on its own only if nothing outside it can be affected: no name
   that the region binds appears anywhere else in the file (a word search over the unchanged
   text), and no ``from __future__`` import is in it. Otherwise the caller parses the whole file,
   so the fast path is never less correct than the slow one, only sometimes not taken.

The unchanged text after the region may have moved by a number of lines; the reload shifts the
line numbers of the functions defined there (``_patch.shift_after``).

This module must never import IPython.
"""

from __future__ import annotations

import bisect
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._source import ParsedSource, source_lines

__all__ = ["MIN_LINES", "Region", "anchors_of", "find_region", "region_is_isolated"]

# Below this size a whole-file parse costs less than working out a region.
MIN_LINES = 400


@dataclass(frozen=True)
class Region:
    """Lines ``start`` to ``old_end`` of the old text became ``start`` to ``new_end`` of the new.

    Both are whole top-level statements (or blank lines and comments); the text before
    ``start`` is identical, and so is the text after the region (shifted by :attr:`delta`).
    """

    start: int
    old_end: int
    new_end: int

    @property
    def delta(self) -> int:
        """How many lines the text after the region moved."""
        return self.new_end - self.old_end


def anchors_of(namespace: Mapping[str, Any], filename: str, text: str) -> list[int]:
    """Sorted first lines of the module's own top-level functions, at column 0 in ``text``."""
    lines = source_lines(text)
    found: set[int] = set()
    for value in list(namespace.values()):
        # type(), not isinstance(): no user __getattribute__ runs while we look.
        if type(value) is not types.FunctionType or value.__globals__ is not namespace:
            continue
        code = value.__code__
        if code.co_filename != filename or "." in value.__qualname__:
            continue
        line = code.co_firstlineno
        if 1 <= line <= len(lines) and lines[line - 1].startswith(("def ", "async def ", "@")):
            found.add(line)
    return sorted(found)


def find_region(old: str, new: str, anchors: list[int]) -> Region | None:
    """The region of whole top-level statements that contains every changed line."""
    if old == new:
        return None
    prefix = _common_prefix(old, new)
    suffix = _common_suffix(old, new, limit=min(len(old), len(new)) - prefix)
    # Whole lines: back to the start of the line holding the first difference, forward to the
    # end of the line holding the last one.
    first_changed = old.count("\n", 0, prefix) + 1
    old_last = old.count("\n", 0, len(old) - suffix) + 1
    new_last = new.count("\n", 0, len(new) - suffix) + 1
    old_lines = old.count("\n") + 1
    index = bisect.bisect_right(anchors, first_changed) - 1
    start = anchors[index] if index >= 0 else 1
    after = bisect.bisect_right(anchors, old_last)
    old_end = anchors[after] - 1 if after < len(anchors) else old_lines
    new_end = old_end + (new_last - old_last)
    if new_end < start - 1:
        return None
    return Region(start=start, old_end=old_end, new_end=new_end)


def _common_prefix(a: str, b: str) -> int:
    # Compare growing chunks (one pass over the text), then bisect inside the first chunk that
    # differs: a plain bisection over the whole text would copy O(n log n) characters.
    limit = min(len(a), len(b))
    start, size = 0, 4096
    while start < limit:
        end = min(start + size, limit)
        if a[start:end] != b[start:end]:
            return start + _bisect_prefix(a[start:end], b[start:end])
        start, size = end, min(size * 2, 1 << 20)
    return limit


def _common_suffix(a: str, b: str, *, limit: int) -> int:
    return _common_prefix(a[::-1][: max(limit, 0)], b[::-1][: max(limit, 0)])


def _bisect_prefix(a: str, b: str) -> int:
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def region_is_isolated(old: ParsedSource, new: ParsedSource, region: Region) -> bool:
    """Whether reloading only the region gives the same result as reloading the whole file."""
    region_lines = new.lines
    outside = "".join(region_lines[: region.start - 1] + region_lines[region.new_end :])
    if "__future__" in "".join(region_lines[region.start - 1 : region.new_end]):
        return False
    names: set[str] = set()
    for statement in (*old.statements, *new.statements):
        names |= statement.binds
        names |= statement.decorator_names
    # A substring test per name first (fast); the word-boundary regex only for what it finds.
    present = sorted(n for n in names if n in outside)
    if not present:
        return True
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in present) + r")\b")
    return pattern.search(outside) is None
