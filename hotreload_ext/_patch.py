"""Stage 6 (patch): merge new objects into the live ones, keeping their identity.

When a statement runs again it makes *new* function and class objects. :class:`Patcher` merges
each new object into the old one it replaces, so that the old object (held by ``from m import f``,
by instances, by callback lists, by bound methods) now behaves like the new one, and the module
name is bound back to the old object. Every mutation goes through the :class:`Journal` first.

A class statement that ran again made a *draft*, through the class's own machinery (metaclass,
``__init_subclass__``, decorators): the live class adopts the draft's namespace, and what the
machinery bound to the draft is pointed at the live class or made again for it (``_adopt.py``,
``_libraries.py``). Where a class cannot adopt it (its ``__slots__``, bases, metaclass or layout
changed, an ``int``/``str`` Enum member's value changed), the new class replaces it; instances
of a replaced class are moved to the new class in one heap pass at commit
(:func:`migrate_instances`).
"""

from __future__ import annotations

import enum
import functools
import gc
import types
from dataclasses import dataclass, field
from typing import Any

from ._forward import FORWARDS
from ._journal import MISSING, Journal, annotations_of, set_closure
from ._libraries import ClassChanges, Stale
from ._static import class_attribute, is_lru_wrapper

__all__ = ["CLASS_OWN", "Patcher", "Replacement", "migrate_instances"]

# Per-class slots that belong to one class object and must never be copied to another.
CLASS_OWN = frozenset({"__dict__", "__weakref__", "_abc_impl", "__abstractmethods__"})


@dataclass
class Replacement:
    """A class that could not be patched in place, and why."""

    old: type
    new: type
    reason: str
    moved: int = 0
    # Old instances whose class Python refused to change (a different layout): they keep the
    # old class, and the user must make them again.
    kept: int = 0
    not_moved: list[str] = field(default_factory=list)
    rebased: list[str] = field(default_factory=list)


class Patcher:
    """Merges new objects into old ones for one module's reload.

    Args:
        journal: Where every in-place change is recorded so it can be undone.
        globals_: The module's namespace. Only functions whose globals are this namespace, and
            classes whose ``__module__`` is ``module_name``, are patched: anything else was
            imported from somewhere else and is simply rebound.
        module_name: The module's ``__name__``.
    """

    def __init__(self, journal: Journal, globals_: dict[str, Any], module_name: str) -> None:
        self.journal = journal
        self.globals = globals_
        self.module_name = module_name
        self.replacements: list[Replacement] = []
        # Classes changed in place or adopted from a draft; what their libraries did when
        # they were made is finished there (`_libraries.py`).
        self.classes = ClassChanges(journal)
        # Classes elsewhere that keep what they copied from an old definition (at commit).
        self.stale: list[Stale] = []
        self.caches: list[Any] = []
        # new object id -> the object that stands for it after the merge (the old one, or the
        # new one itself). Keeps cycles finite (class -> method -> __class__ cell -> class).
        self._memo: dict[int, Any] = {}
        self._keep_alive: list[object] = []

    # ------------------------------------------------------------------------------------
    def merge(self, old: Any, new: Any) -> Any:
        """Return the object that should be bound where ``old`` was and ``new`` now is."""
        if old is new or new is MISSING:
            return old
        if old is MISSING:
            return self.adopt(new)
        if id(new) in self._memo:
            return self._memo[id(new)]
        # Objects are classified by type(x) only: isinstance() falls back to the object's own
        # `__getattribute__("__class__")`, and getattr() to its `__getattr__`: user code.
        if type(old) is types.FunctionType and type(new) is types.FunctionType:
            if self._is_same_function(old, new):
                return self._merge_function(old, new)
        elif _is_class(old) and _is_class(new):
            # Same qualified name, or `Default = A` -> `Default = B` would turn A into B.
            if (
                self._is_own_class(old)
                and self._is_own_class(new)
                and old.__qualname__ == new.__qualname__
            ):
                return self._merge_class(old, new)
        elif type(old) is type(new) and issubclass(type(new), (classmethod, staticmethod)):
            inner = self.merge(old.__func__, new.__func__)
            return old if inner is old.__func__ else self.adopt(new)
        elif type(old) is property and type(new) is property:
            return self._merge_property(old, new)
        elif is_lru_wrapper(old) and is_lru_wrapper(new):
            return self._merge_lru_wrapper(old, new)
        elif type(old) is functools.partial and type(new) is functools.partial:
            return self._merge_partial(old, new)
        return self.adopt(new)

    def adopt(self, new: Any) -> Any:
        """Point a brand-new object's closure cells at the old objects that were kept."""
        if id(new) in self._memo:
            return self._memo[id(new)]
        if type(new) is types.FunctionType:
            self._remember(new, new)
            for cell in new.__closure__ or ():
                try:
                    contents = cell.cell_contents
                except ValueError:
                    continue
                kept = self._memo.get(id(contents), contents)
                if kept is not contents:
                    self.journal.save_cell(cell)
                    cell.cell_contents = kept
        elif issubclass(type(new), (classmethod, staticmethod)):
            self.adopt(new.__func__)
        elif issubclass(type(new), property):
            for accessor in (new.fget, new.fset, new.fdel):
                if accessor is not None:
                    self.adopt(accessor)
        return new

    # ------------------------------------------------------------------------------------
    def _remember(self, new: object, result: object) -> None:
        self._memo[id(new)] = result
        self._keep_alive.append(new)

    def _is_own_class(self, cls: type) -> bool:
        return cls.__module__ == self.module_name

    def _is_same_function(self, old: types.FunctionType, new: types.FunctionType) -> bool:
        """Whether ``new`` is a new version of the definition ``old`` came from.

        The qualified names must match: rebinding an alias (`f = foo` -> `f = bar`) must not
        turn ``foo`` into ``bar`` (ipython/ipython#14944). Then either both were defined in this
        module, or both were made by the same code elsewhere: a decorator's wrapper from another
        module, whose closure holds this module's function.
        """
        if old.__qualname__ != new.__qualname__:
            return False
        if old.__globals__ is self.globals and new.__globals__ is self.globals:
            return True
        # The same code, possibly with its lines shifted since (its module reloaded too).
        a, b = old.__code__, new.__code__
        return a is b or (
            a.co_filename == b.co_filename and a.co_name == b.co_name and a.co_code == b.co_code
        )

    def _merge_function(self, old: types.FunctionType, new: types.FunctionType) -> Any:
        self._remember(new, old)
        self.journal.save_function(old)
        old_cells = dict(zip(old.__code__.co_freevars, old.__closure__ or (), strict=False))
        cells: list[types.CellType] = []
        for name, new_cell in zip(new.__code__.co_freevars, new.__closure__ or (), strict=False):
            cells.append(self._merge_cell(old_cells.get(name), new_cell))
        closure = tuple(cells) if cells else None
        if _same_cells(closure, old.__closure__):
            old.__code__ = new.__code__
        else:
            set_closure(old, new.__code__, closure)
        old.__defaults__ = new.__defaults__
        old.__kwdefaults__ = new.__kwdefaults__
        old.__doc__ = new.__doc__
        setattr(old, *annotations_of(new))  # lazy on Python 3.14: see annotations_of
        old.__name__ = new.__name__
        old.__qualname__ = new.__qualname__
        if hasattr(new, "__type_params__"):  # Python 3.12+
            setattr(old, "__type_params__", new.__type_params__)  # noqa: B010
        new_dict = {k: self.merge(old.__dict__.get(k, MISSING), v) for k, v in new.__dict__.items()}
        old.__dict__.clear()
        old.__dict__.update(new_dict)
        return old

    def _merge_cell(self, old_cell: types.CellType | None, new_cell: types.CellType) -> Any:
        try:
            new_value = new_cell.cell_contents
        except ValueError:
            return new_cell
        if old_cell is None:
            kept = self.adopt(new_value)
        else:
            try:
                old_value = old_cell.cell_contents
            except ValueError:
                old_value = MISSING
            kept = self.merge(old_value, new_value)
            if kept is old_value:
                return old_cell
        if kept is not new_value:
            self.journal.save_cell(new_cell)
            new_cell.cell_contents = kept
        return new_cell

    def _merge_property(self, old: property, new: property) -> Any:
        accessors = []
        for name in ("fget", "fset", "fdel"):
            before, after = getattr(old, name), getattr(new, name)
            if before is None or after is None:
                accessors.append(self.adopt(after) if after is not None else None)
            else:
                accessors.append(self.merge(before, after))
        same = all(a is b for a, b in zip(accessors, (old.fget, old.fset, old.fdel), strict=True))
        if same and old.__doc__ == new.__doc__:
            return old
        return property(accessors[0], accessors[1], accessors[2], new.__doc__)

    def forward(self, old: types.FunctionType, new: Any) -> None:
        """Make ``old`` call ``new``: the old function was replaced by an object it can't become.

        A decorator added from another module (the new object is its wrapper), a decorator
        removed (the old object was the wrapper), or ``def f`` turned into ``f = other``: the
        references taken before the edit must still behave like the module's new ``f``.
        """
        FORWARDS.forward(old, new, self.journal)

    def _merge_partial(self, old: functools.partial[Any], new: functools.partial[Any]) -> Any:
        # Only a partial of the same function (after its own merge) is a new version of the old
        # one; `p = partial(f)` -> `p = partial(g)` is a different object.
        func = self.merge(old.func, new.func)
        if func is not old.func:
            return self.adopt(new)
        set_state = old.__setstate__  # type: ignore[attr-defined]
        state = old.__reduce__()[2]
        self.journal.add(lambda: set_state(state))
        set_state((func, new.args, new.keywords, new.__dict__ or None))
        return old

    def _merge_lru_wrapper(self, old: Any, new: Any) -> Any:
        inner = self.merge(old.__wrapped__, new.__wrapped__)
        if inner is not old.__wrapped__:
            return new
        # The wrapper is kept, so its cache holds results of the old body.
        self.clear_cache(old)
        return old

    def clear_cache(self, wrapper: Any) -> None:
        """Drop a caching wrapper's results now, and again at commit.

        Now, because statements re-run in this reload may call it. Stale results are never
        correct, so a rollback does not restore them.
        """
        wrapper.cache_clear()
        self.caches.append(wrapper)

    def _merge_class(self, old: type, new: type) -> Any:
        """The live class ``old`` adopts ``new``, the draft its class statement just made.

        The class statement ran through the class's own machinery (metaclass,
        ``__init_subclass__``, decorators), so the draft's namespace is what a fresh import
        makes. It is merged into the live class, and what the machinery bound to the draft
        is pointed at the live class (``_libraries.ClassChanges``, ``_adopt.py``). A class
        whose layout changed cannot adopt it and is replaced.
        """
        reason = _why_not_in_place(old, new)
        members_changed = old.__dict__.keys() != new.__dict__.keys()
        if reason is None and isinstance(old, enum.EnumMeta):
            self.classes.before_change(old)
            reason = self._merge_enum(old, new)
            if reason is None:
                self.classes.adopted(old, new, members_changed=members_changed)
                return old
        if reason is not None:
            self._remember(new, new)
            self.replacements.append(Replacement(old=old, new=new, reason=reason))
            return self.adopt(new)
        self._remember(new, old)
        self.classes.before_change(old)
        self.merge_members(old, dict(new.__dict__))
        self._drop_members_not_in(old, new)
        self.classes.adopted(old, new, members_changed=members_changed)
        return old

    def _merge_enum(self, old: Any, new: Any) -> str | None:
        """Update an Enum in place, keeping every member that still exists; None when done.

        A member whose value changed keeps its identity when the Enum has no data type (the
        value is just an attribute); an ``int``/``str`` member *is* its value and cannot.
        New members are made members of the old class.
        """
        reason = _why_enum_not_in_place(old, new)
        if reason is not None:
            return reason
        kept: dict[int, Any] = {}
        for name in new._member_names_:
            member = new._member_map_[name]
            previous = old._member_map_.get(name)
            if previous is not None and previous._name_ == name:
                # The new member's state wins (a changed value, what its __init__ stored, and
                # per-member caches such as a Flag's cached inverse, which a new member of
                # the class changes).
                saved = dict(previous.__dict__)
                self.journal.add(functools.partial(_restore_dict, previous, saved))
                state = {**member.__dict__, "__objclass__": old}
                if "__objclass__" not in member.__dict__:
                    del state["__objclass__"]
                previous.__dict__.clear()
                previous.__dict__.update(state)
                kept[id(member)] = previous
            else:
                object.__setattr__(member, "__class__", old)
                if "__objclass__" in member.__dict__:
                    member.__dict__["__objclass__"] = old
                kept[id(member)] = member

        def translate(value: Any) -> Any:
            return kept.get(id(value), value)

        self._remember(new, old)
        members: dict[str, Any] = {}
        for key, value in new.__dict__.items():
            if key in ("_member_map_", "_value2member_map_"):
                members[key] = {k: translate(v) for k, v in value.items()}
            elif id(value) in kept:
                members[key] = translate(value)
            else:
                members[key] = value
        for value in kept.values():
            self._memo[id(value)] = value
        self.merge_members(old, members)
        self._drop_members_not_in(old, new)
        return None

    def _drop_members_not_in(self, old: type, new: type) -> None:
        self.set_members(
            old, [n for n in old.__dict__ if n not in new.__dict__ and n not in CLASS_OWN]
        )

    def merge_members(self, cls: type, members: dict[str, Any]) -> None:
        """Merge each of ``members`` into the attribute of that name of ``cls``, in place."""
        self.journal.save_class(cls)
        current = cls.__dict__
        for name, new_value in members.items():
            if name in CLASS_OWN:
                continue
            if issubclass(
                type(new_value), (types.MemberDescriptorType, types.GetSetDescriptorType)
            ):
                # Slot descriptors are bound to their own class; the layout is unchanged (or
                # we would be replacing), so the old ones stay.
                continue
            old_value = current.get(name, MISSING)
            kept = self.merge(old_value, new_value)
            if kept is not old_value:
                type.__setattr__(cls, name, kept)
                set_name = class_attribute(type(kept), "__set_name__")
                if set_name is not MISSING and kept is new_value:
                    set_name(kept, cls, name)

    def set_members(self, cls: type, gone: list[str], docstring: object = MISSING) -> None:
        """Delete the attributes ``gone`` from ``cls`` and set its docstring, if given."""
        self.journal.save_class(cls)
        for name in gone:
            if name in cls.__dict__:
                type.__delattr__(cls, name)
        if docstring is not MISSING and cls.__dict__.get("__doc__") != docstring:
            type.__setattr__(cls, "__doc__", docstring)

    def commit(self) -> None:
        """Finish what can only be done once the reload succeeded."""
        FORWARDS.refresh(self.module_name, self.journal)
        self.stale = self.classes.finish(ignore=[self._keep_alive])
        for wrapper in self.caches:
            wrapper.cache_clear()
        self._memo.clear()
        self._keep_alive.clear()


def _same_value(left: object, right: object) -> bool:
    if left is right:
        return True
    if type(left) is not type(right) or type(left) not in (int, str, float, bytes, bool):
        # Never run a user __eq__ while comparing: a value of another type is a change.
        return False
    return bool(left == right)


def _why_enum_not_in_place(old: Any, new: Any) -> str | None:
    """Why the Enum ``old`` cannot take the members of ``new`` in place; None if it can.

    A member whose value changed keeps its identity when the Enum has no data type (the
    value is just an attribute); an ``int``/``str`` member *is* its value and cannot.
    """
    if old._member_type_ is not new._member_type_:
        return "its data type changed"
    if old._member_type_ is object:
        return None
    for name in new._member_names_:
        previous = old._member_map_.get(name)
        if (
            previous is not None
            and previous._name_ == name
            and not _same_value(previous._value_, new._member_map_[name]._value_)
        ):
            return f"the value of {old.__qualname__}.{name} changed and it is an int/str"
    return None


def _restore_dict(obj: Any, saved: dict[str, Any]) -> None:
    obj.__dict__.clear()
    obj.__dict__.update(saved)


def _same_cells(
    left: tuple[types.CellType, ...] | None, right: tuple[types.CellType, ...] | None
) -> bool:
    left, right = left or (), right or ()
    return len(left) == len(right) and all(a is b for a, b in zip(left, right, strict=False))


def _is_class(value: object) -> bool:
    return issubclass(type(value), type)


def _slots(cls: type) -> tuple[str, ...] | None:
    slots = cls.__dict__.get("__slots__")
    if slots is None:
        return None
    return (slots,) if isinstance(slots, str) else tuple(slots)


def _why_not_in_place(old: type, new: type) -> str | None:
    """None when ``new`` can be merged into ``old``; otherwise the reason it cannot."""
    if type(old) is not type(new):
        return f"its metaclass changed ({type(old).__name__} -> {type(new).__name__})"
    # By identity only: `==` on classes would run a user metaclass's __eq__.
    if len(old.__bases__) != len(new.__bases__) or any(
        a is not b for a, b in zip(old.__bases__, new.__bases__, strict=True)
    ):
        return "its base classes changed"
    if issubclass(old, tuple) and old.__dict__.get("_fields") != new.__dict__.get("_fields"):
        return "its fields changed (a tuple's length is fixed when it is made)"
    if _slots(old) != _slots(new):
        return "its __slots__ changed"
    if old.__basicsize__ != new.__basicsize__ or old.__itemsize__ != new.__itemsize__:
        return "its instance layout changed"
    return None


def migrate_instances(replacements: list[Replacement]) -> None:
    """Move the instances of every replaced class to its new class, in one heap pass."""
    if not replacements:
        return
    by_old = {id(r.old): r for r in replacements}
    for replaced in replacements:
        # Subclasses elsewhere (another module, the user's cells) are not made again: point
        # them at the new class, so their old and new instances see the base's new code.
        subclasses: list[type] = replaced.old.__subclasses__()
        for sub in subclasses:
            if id(sub) in by_old:
                continue
            bases = tuple(replaced.new if b is replaced.old else b for b in sub.__bases__)
            try:
                sub.__bases__ = bases
                replaced.rebased.append(sub.__qualname__)
            except TypeError as exc:
                replaced.not_moved.append(f"subclass {sub.__qualname__} keeps the old class: {exc}")
    for obj in gc.get_objects():
        replacement = by_old.get(id(type(obj)))
        if replacement is None or type(obj) is not replacement.old:
            continue
        fields = replacement.new.__dict__.get("_fields")
        if (
            issubclass(replacement.old, tuple)
            and isinstance(obj, tuple)
            and isinstance(fields, tuple)
            and len(obj) != len(fields)
        ):
            replacement.not_moved.append(
                f"an old {type(obj).__qualname__} of {len(obj)} items cannot take {len(fields)}"
                " fields; recreate it"
            )
            continue
        try:
            object.__setattr__(obj, "__class__", replacement.new)
            replacement.moved += 1
        except TypeError:
            replacement.kept += 1
