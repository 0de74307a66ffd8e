"""Stage 6 (patch): the live class takes the place of the draft a class statement made again.

When a class statement runs again, the class machinery (the metaclass, ``__init_subclass__``,
the decorators) makes a new class object: a *draft*. The patcher merges the draft's namespace
into the live class (``Patcher._merge_class``), so the module keeps the class object that
instances, subclasses and ``from m import Cls`` hold. But while it ran, the machinery may also
have handed the draft to others: a registry keyed by the class or by its name, a pandas
accessor, a list of plugins, an instance made on the way. Left there, the draft is an orphan
copy of the class (``isinstance(registry["Plugin"](), m.Plugin)`` is False).

:func:`repoint_drafts` finds those references in one heap pass at the end of the module's
reload and points them at the live class, as if the class statement had made the live class:
dict values and keys, list and set items (a list that already holds the live class drops the
draft instead, as a fresh import registers the class once), and instances of the draft, which
move to the live class. Every change goes through the journal. What the machinery compiled
for the draft and cannot be pointed elsewhere (pydantic's validators) is rebuilt by that
library's adapter (``_libraries.py``).

This module must never import IPython.
"""

from __future__ import annotations

import collections
import gc
import weakref
from typing import Any

from ._journal import Journal
from ._static import class_attribute, own_attributes

__all__ = ["is_draft", "live_subclasses", "remember_draft", "repoint_drafts"]

# Drafts stay in their bases' ``__subclasses__()`` until the collector frees them (a class is
# always in a reference cycle with its own ``__dict__``); walks over subclasses skip them. Kept
# by id, not in a WeakSet, which would hash the class (a metaclass ``__hash__`` is user code).
_DRAFTS: dict[int, weakref.ref[type]] = {}

# Containers whose own methods are safe to call (no user ``__setitem__`` or ``__eq__`` runs).
_DICTS = (dict, collections.OrderedDict, collections.defaultdict)
_LITERALS = (str, int, float, bytes, bool, type(None))
_OBJECT_HASH = object.__dict__["__hash__"]
_OBJECT_EQ = object.__dict__["__eq__"]


def remember_draft(draft: type) -> None:
    """Mark ``draft`` as a class object whose live class adopted it."""
    key = id(draft)
    _DRAFTS[key] = weakref.ref(draft, lambda _: _DRAFTS.pop(key, None))


def is_draft(cls: type) -> bool:
    """Whether ``cls`` is a draft some live class adopted (and not yet collected)."""
    ref = _DRAFTS.get(id(cls))
    return ref is not None and ref() is cls


def live_subclasses(cls: type) -> list[type]:
    """Every subclass of ``cls``, at any depth, but the drafts.

    Read with ``type.__subclasses__`` itself: a metaclass may override ``__subclasses__``.
    """
    found: dict[int, type] = {}
    pending = [cls]
    while pending:
        subclasses: list[type] = type.__subclasses__(pending.pop())
        for sub in subclasses:
            if id(sub) not in found and not is_draft(sub):
                found[id(sub)] = sub
                pending.append(sub)
    return list(found.values())


def repoint_drafts(pairs: list[tuple[type, type]], journal: Journal, ignore: list[object]) -> int:
    """Point every reference to a draft at its live class; returns how many were moved.

    Args:
        pairs: ``(draft, live)`` for each class adopted in this reload.
        journal: Where each change is recorded, so a rollback puts the drafts back.
        ignore: Containers that hold drafts on purpose (the patcher's own bookkeeping).
    """
    if not pairs:
        return 0
    live_of = {id(draft): live for draft, live in pairs}
    drafts = [draft for draft, _ in pairs]
    # Keys and set items are hashed and compared: only where that runs no user code.
    hashable = all(_hashes_by_identity(draft) for draft in drafts)
    # The drafts' own namespaces, MROs and bases refer to them (or to what they were made
    # from); they die with the drafts.
    skip = {id(x) for draft in drafts for x in gc.get_referents(draft)}
    skip |= {id(x) for x in ignore} | {id(drafts), id(pairs)}
    moved = 0
    for holder in gc.get_referrers(*drafts):
        if id(holder) in skip:
            continue
        kind = type(holder)
        if kind in _DICTS:
            moved += _repoint_mapping(holder, live_of, journal, hashable=hashable)
        elif kind is list:
            moved += _repoint_list(holder, live_of, journal)
        elif kind is set and hashable:
            moved += _repoint_set(holder, live_of, journal)
        elif id(kind) in live_of:
            moved += _move_instance(holder, live_of[id(kind)], journal)
        elif not issubclass(kind, type):
            # An object whose attributes live in its own values array (Python 3.11+) is
            # itself the referrer, not its `__dict__`: a pandas accessor holding the class.
            attributes = own_attributes(holder)
            if attributes:
                moved += _repoint_mapping(attributes, live_of, journal, hashable=hashable)
    return moved


def _repoint_mapping(
    mapping: Any, live_of: dict[int, type], journal: Journal, *, hashable: bool
) -> int:
    values = [k for k, v in mapping.items() if id(v) in live_of]
    keys = [k for k in mapping if id(k) in live_of] if hashable else []
    if not values and not keys:
        return 0
    if not all(_hashes_by_identity(k) or type(k) in _LITERALS for k in mapping):
        # Setting an item hashes its key and may compare it with others: a registry keyed by
        # objects with their own __hash__/__eq__ is left alone.
        return 0
    owner = _owner_class(mapping) if "__module__" in mapping else None
    if owner is not None:
        # A class's own namespace changes only through setattr, which keeps the type's
        # attribute cache right (`setattr(Base, cls.__name__, cls)` in `__init_subclass__`).
        journal.save_class(owner)
        for key in values:
            type.__setattr__(owner, key, live_of[id(mapping[key])])
        return len(values)
    journal.save_mapping(mapping)
    for key in values:
        mapping[key] = live_of[id(mapping[key])]
    for key in keys:
        # The registration the class statement just made wins, as in a fresh import.
        mapping[live_of[id(key)]] = mapping.pop(key)
    return len(values) + len(keys)


def _hashes_by_identity(value: object) -> bool:
    """Whether hashing and comparing ``value`` runs no user code (a class: its metaclass's)."""
    kind = type(value)
    return (
        class_attribute(kind, "__hash__") is _OBJECT_HASH
        and class_attribute(kind, "__eq__") is _OBJECT_EQ
    )


def _owner_class(mapping: dict[str, Any]) -> type | None:
    """The class whose ``__dict__`` is ``mapping``, if it is one."""
    for holder in gc.get_referrers(mapping):
        if issubclass(type(holder), type):
            proxy = type.__dict__["__dict__"].__get__(holder)
            if any(inner is mapping for inner in gc.get_referents(proxy)):
                return holder  # type: ignore[no-any-return]
    return None


def _repoint_list(items: list[Any], live_of: dict[int, type], journal: Journal) -> int:
    """Put the live class where the draft is, once: a list already holding it drops the draft."""
    saved = list(items)
    journal.add(lambda: items.__setitem__(slice(None), saved))
    held = {id(x) for x in saved}
    kept: list[Any] = []
    moved = 0
    for item in saved:
        live = live_of.get(id(item))
        if live is None:
            kept.append(item)
            continue
        moved += 1
        if id(live) not in held:
            held.add(id(live))
            kept.append(live)
    items[:] = kept
    return moved


def _repoint_set(items: set[Any], live_of: dict[int, type], journal: Journal) -> int:
    found = [item for item in items if id(item) in live_of]
    saved = set(items)

    def undo() -> None:
        items.clear()
        items.update(saved)

    journal.add(undo)
    for draft in found:
        items.discard(draft)
        items.add(live_of[id(draft)])
    return len(found)


def _move_instance(instance: object, live: type, journal: Journal) -> int:
    draft = type(instance)
    try:
        object.__setattr__(instance, "__class__", live)
    except TypeError:  # pragma: no cover - same namespace merged, so the same layout
        return 0
    journal.add(lambda: object.__setattr__(instance, "__class__", draft))
    return 1
