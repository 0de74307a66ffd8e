"""Stage 6 (patch), pydantic v2: a model's validator is compiled for one class object.

pydantic finishes a model in its metaclass: it collects ``model_fields``, binds the decorated
validators and serializers (``@field_validator``, ``@model_validator``, ...) to the class, and
compiles a pydantic-core validator and serializer that construct instances *of that class
object*. When a model's class statement runs again and the live class adopts the draft's
namespace, it would also adopt a validator that makes drafts (``Model.model_validate(...)``
would return objects that are not instances of ``Model``) and validators whose ``cls`` is the
draft. :func:`rebuild_model` re-binds the decorators to the live class with pydantic's own
``Decorator.bind_to_cls`` (what pydantic does for a subclass's inherited validators) and asks
pydantic to build the schema, validator and serializer again (``model_rebuild(force=True)``).

Models elsewhere whose schema embeds a changed model (a field of its type, at any depth) are
rebuilt the same way (:func:`rebuild_dependants`), dependencies first. A subclass copies its
bases' fields when it is made, which a rebuild cannot redo: ``_libraries.py`` names it stale.

pydantic is never imported here: a class is a model when its metaclass comes from pydantic,
so pydantic is already loaded.

This module must never import IPython.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from ._adopt import live_subclasses
from ._journal import Journal

__all__ = ["copied_by_subclasses", "is_model", "rebuild_dependants", "rebuild_model"]

_METACLASS_MODULE = "pydantic._internal._model_construction"


def is_model(cls: type) -> bool:
    """Whether ``cls`` is a pydantic v2 model class (its metaclass is pydantic's)."""
    return any(
        meta.__module__ == _METACLASS_MODULE for meta in type.__getattribute__(type(cls), "__mro__")
    )


def rebuild_model(live: type, journal: Journal) -> None:
    """Bind the adopted decorators to ``live`` and build its validator and serializer anew."""
    journal.save_class(live)
    _rebind_decorators(live)
    _rebuild(live)


def _rebuild(model: Any) -> None:
    # `_parent_namespace_depth=0`: pydantic would otherwise resolve names in *our* caller's
    # frame. The namespace the class was made in is kept on the class and still used.
    # `raise_errors=False`: a model whose forward references do not resolve yet gets the
    # placeholders pydantic gives the draft (rebuilt on first use), not an error.
    model.model_rebuild(force=True, raise_errors=False, _parent_namespace_depth=0)


def _rebind_decorators(live: type) -> None:
    infos = live.__dict__.get("__pydantic_decorators__")
    if infos is None or not dataclasses.is_dataclass(infos):
        return
    rebound = copy.copy(infos)
    for table in dataclasses.fields(infos):
        decorators = getattr(infos, table.name)
        if isinstance(decorators, dict):
            setattr(rebound, table.name, {k: _bind(d, live) for k, d in decorators.items()})
    type.__setattr__(live, "__pydantic_decorators__", rebound)


def _bind(decorator: Any, live: type) -> Any:
    bind: Callable[..., Any] = decorator.bind_to_cls
    # pydantic 2.12 added the class reference argument; earlier 2.x take the class only.
    if bind.__func__.__code__.co_argcount >= 3:  # type: ignore[attr-defined]
        return bind(live, decorator.cls_ref)
    return bind(live)  # pragma: no cover - older pydantic


def rebuild_dependants(
    changed: list[type], skip: Callable[[type], bool], journal: Journal
) -> list[type]:
    """Rebuild every other model whose schema embeds one of ``changed``; return them.

    Args:
        changed: Models whose definition changed in this reload (already rebuilt).
        skip: Classes not to touch (those made again in this reload).
        journal: Each rebuilt model's namespace is saved first.
    """
    if not changed:
        return []
    # The root of the models: pydantic's BaseModel, the first model in the MRO.
    base = next(cls for cls in reversed(changed[0].__mro__) if is_model(cls))
    targets = {id(model) for model in changed}
    found = [
        model
        for model in live_subclasses(base)
        if id(model) not in targets
        and not skip(model)
        and _mentions(model.__dict__.get("__pydantic_core_schema__"), targets)
    ]
    ordered = _dependencies_first(found)
    for model in ordered:
        journal.save_class(model)
        _rebuild(model)
    return ordered


def copied_by_subclasses(cls: type) -> dict[str, object]:
    """What a subclass copies from ``cls`` when it is made: fields, config, decorators."""
    copied: dict[str, object] = {
        "fields": cls.__dict__.get("__pydantic_fields__"),
        "config": cls.__dict__.get("model_config"),
    }
    infos = cls.__dict__.get("__pydantic_decorators__")
    if infos is not None and dataclasses.is_dataclass(infos):
        copied["validators"] = {
            table.name: sorted(getattr(infos, table.name)) for table in dataclasses.fields(infos)
        }
    return copied


def _mentions(schema: object, targets: set[int]) -> bool:
    """Whether a core schema (nested dicts and lists) holds one of ``targets``."""
    pending: list[object] = [schema]
    while pending:
        node = pending.pop()
        if id(node) in targets:
            return True
        if type(node) is dict:
            pending += node.values()
        elif type(node) in (list, tuple):
            pending += node  # type: ignore[arg-type]
    return False


def _dependencies_first(models: list[type]) -> list[type]:
    """``models`` ordered so a model comes after the models its schema embeds."""
    ids = {id(model) for model in models}
    needs = {
        id(model): {
            other
            for other in ids
            if other != id(model)
            and _mentions(model.__dict__.get("__pydantic_core_schema__"), {other})
        }
        for model in models
    }
    ordered: list[type] = []
    done: set[int] = set()
    remaining = list(models)
    while remaining:
        ready = [m for m in remaining if needs[id(m)] <= done] or remaining[:1]  # a cycle
        for model in ready:
            ordered.append(model)
            done.add(id(model))
        remaining = [m for m in remaining if id(m) not in done]
    return ordered
