"""Stage 6 (patch): what libraries do when a class is made, redone for the live class.

A changed class keeps its identity: its members are patched in place (``_redefine_class.py``),
or its class statement runs again through the library's own machinery and the live class
adopts the resulting draft (``Patcher._merge_class``, ``_adopt.py``). Either way, what the
library did with the class *object* when it was made must be redone for the live class. That
knowledge lives in one small module per library, consulted only for classes that library made
(by their metaclass's module, or a marker the library leaves in the class); no library is ever
imported to find out:

=======================  ==================================================================
``_library_abc``         ``isinstance`` caches of ABCs and Protocols; abstract methods
``_library_typing``      Protocol members recorded at creation; ``Box[int]`` alias caches
``_library_pydantic``    validators and serializers compiled for the class object
``_library_sklearn``     ``set_output``'s wrapping of ``transform``
=======================  ==================================================================

Enum members are merged by the patcher itself (``Patcher._merge_enum``); dataclasses, attrs,
``NamedTuple`` and ``TypedDict`` need nothing more than adoption (their generated methods close
over the class, and the patcher points those closures at the live class).

Some machinery *copies* from the bases when a subclass is made (dataclass and pydantic fields,
TypedDict keys). A subclass that was not made again in this reload keeps the old copy: it is
named in :class:`Stale` records, with what it kept and the module to reload.

This module must never import IPython.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import _library_abc, _library_pydantic, _library_sklearn, _library_typing
from ._adopt import live_subclasses, remember_draft, repoint_drafts
from ._journal import Journal
from ._static import own_attributes

__all__ = ["ClassChanges", "Stale", "processes_member"]

# What the standard library's and attrs' machinery copies from a base into a subclass it
# makes, by the attribute it leaves on the subclass, and what the user calls it.
_COPIED = {
    "__dataclass_fields__": "dataclass fields",
    "__attrs_attrs__": "attrs fields",
    "__required_keys__": "TypedDict keys",
    "__optional_keys__": "TypedDict keys",
    "__protocol_attrs__": "Protocol members",
}
_FINGERPRINT_DEPTH = 4


@dataclass(frozen=True)
class Stale:
    """A class made from the old definition of a changed class; it keeps what it copied.

    Attributes:
        name: The stale class, as ``module.Qualname``.
        module: Its module: reloading it makes the class again.
        base: The changed class it was made from, as ``module.Qualname``.
        kept: What it copied from the old definition (``pydantic fields``).
    """

    name: str
    module: str
    base: str
    kept: str

    def __str__(self) -> str:
        return (
            f"{self.name} was made from the old {self.base} and keeps its old {self.kept}; "
            f"reload {self.module} to update it (%hotreload now {self.module})"
        )


def processes_member(cls: type, name: str) -> str | None:
    """Why adding or removing the member ``name`` must run ``cls``'s class statement, or None.

    A library that finds members by name when the class is made (a Protocol's members,
    scikit-learn's ``transform``) must see the new set of members.
    """
    return _library_typing.processes_member(cls, name) or _library_sklearn.processes_member(
        cls, name
    )


@dataclass
class ClassChanges:
    """The classes one reload changed, and finishing what their libraries did at creation.

    Args:
        journal: The reload's undo journal; every change made here goes through it.
    """

    journal: Journal
    changed: list[type] = field(default_factory=list)
    members_changed: list[type] = field(default_factory=list)
    drafts: list[tuple[type, type]] = field(default_factory=list)
    _copied: dict[int, dict[str, object]] = field(default_factory=dict)

    def before_change(self, live: type) -> None:
        """Remember what subclasses copied from ``live``, before it changes."""
        if id(live) not in self._copied:
            self._copied[id(live)] = _copied_by_subclasses(live)

    def updated(self, live: type, *, members_changed: bool) -> None:
        """``live`` was changed in place (its members patched or adopted from a draft)."""
        self.before_change(live)
        if all(cls is not live for cls in self.changed):
            self.changed.append(live)
        if members_changed:
            self.members_changed.append(live)

    def adopted(self, live: type, draft: type, *, members_changed: bool) -> None:
        """``live`` took the namespace of ``draft``: finish what the library did for it."""
        self.updated(live, members_changed=members_changed)
        self.drafts.append((draft, live))
        remember_draft(draft)
        if _library_pydantic.is_model(live):
            # Now, not at commit: later statements of the module may validate with it.
            _library_pydantic.rebuild_model(live, self.journal)

    def copies_changed(self, live: type) -> bool:
        """Whether what a subclass copies from ``live`` when it is made changed in this reload.

        A subclass statement below then has to run again, as a fresh import would make the
        subclass from the new definition (pydantic fields, dataclass fields, TypedDict keys).
        """
        before = self._copied.get(id(live))
        return before is not None and before != _copied_by_subclasses(live)

    def finish(self, ignore: list[object]) -> list[Stale]:
        """Once every statement ran: re-point drafts, refresh caches and dependants.

        Args:
            ignore: Containers that hold drafts on purpose (the patcher's bookkeeping).

        Returns:
            The classes elsewhere that keep what they copied from an old definition.
        """
        repoint_drafts(self.drafts, self.journal, [*ignore, self.drafts])
        _library_abc.refresh(self.changed, self.members_changed)
        # Only a class statement that ran can change what typing or pydantic derived from
        # the class (its parameters, its schema); a method patched in place cannot.
        remade = [live for _, live in self.drafts]
        _library_typing.clear_caches(remade)
        models = [cls for cls in remade if _library_pydantic.is_model(cls)]
        remade_ids = {id(cls) for cls in remade}
        _library_pydantic.rebuild_dependants(
            models, lambda cls: id(cls) in remade_ids, self.journal
        )
        stale = self._stale(remade_ids)
        self.changed, self.members_changed, self.drafts = [], [], []
        self._copied.clear()
        return stale

    def _stale(self, remade: set[int]) -> list[Stale]:
        found: list[Stale] = []
        for base in self.changed:
            before, after = self._copied.get(id(base), {}), _copied_by_subclasses(base)
            differ = [k for k in {**before, **after} if before.get(k) != after.get(k)]
            if not differ:
                continue
            for sub in live_subclasses(base):
                if id(sub) in remade:
                    continue
                kept = [k for k in differ if k in _copied_by_subclasses(sub)]
                if kept:
                    what = _COPIED.get(kept[0], kept[0])
                    found.append(Stale(_name(sub), sub.__module__, _name(base), what))
        return found


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _copied_by_subclasses(cls: type) -> dict[str, object]:
    """Fingerprints of what a subclass made by ``cls``'s library copies from it."""
    raw = {name: cls.__dict__[name] for name in _COPIED if name in cls.__dict__}
    if _library_pydantic.is_model(cls):
        raw.update(
            {f"pydantic {k}": v for k, v in _library_pydantic.copied_by_subclasses(cls).items()}
        )
    return {name: _fingerprint(value, _FINGERPRINT_DEPTH) for name, value in raw.items()}


def _fingerprint(value: object, depth: int) -> object:
    """A comparable summary of ``value`` read without running its code.

    Literals compare by value, containers item by item, records (dataclass ``Field``, attrs
    ``Attribute``, pydantic ``FieldInfo``) by their own attributes, anything else by identity:
    a new object is a change.
    """
    kind = type(value)
    if value is None or kind in (str, int, float, bool, bytes):
        return (kind.__name__, value)
    if depth == 0:
        return id(value)
    if kind in (tuple, list):
        return tuple(_fingerprint(v, depth - 1) for v in value)  # type: ignore[attr-defined]
    if kind in (set, frozenset):
        return frozenset(_fingerprint(v, depth - 1) for v in value)  # type: ignore[attr-defined]
    if kind is dict:
        items = value.items()  # type: ignore[attr-defined]
        return tuple((_fingerprint(k, 0), _fingerprint(v, depth - 1)) for k, v in items)
    if issubclass(kind, type) or callable(value):
        return id(value)
    state = {**own_attributes(value), **_slot_values(value)}
    return (id(kind), tuple((k, _fingerprint(v, depth - 1)) for k, v in sorted(state.items())))


def _slot_values(value: object) -> dict[str, object]:
    values: dict[str, object] = {}
    for klass in type(value).__mro__:
        for name in klass.__dict__.get("__slots__", ()):
            descriptor = klass.__dict__.get(name)
            if descriptor is not None and hasattr(type(descriptor), "__get__"):
                try:
                    values[name] = descriptor.__get__(value, type(value))
                except AttributeError:
                    continue
    return values
