"""Sphinx extension: write ``_generated/config.rst`` from the ``HotReload`` traitlets class.

The configuration reference is generated on every build (``builder-inited``) so it cannot drift
from the code: the trait names, types, defaults and help strings all come from
:class:`hotreload_ext.HotReload`. ``configuration.md`` includes the generated file.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from traitlets import Bool, CaselessStrEnum, Enum, Int, List, TraitType, Unicode

HEADER = """\
.. This file is generated from hotreload_ext.HotReload by docs/_ext/hotreload_config.py.
   Do not edit it: change the traits' help strings in hotreload_ext/_config.py instead.

"""


def _type_text(trait: TraitType[Any, Any]) -> str:
    if isinstance(trait, Bool):
        return "``bool``"
    if isinstance(trait, Int):
        return "``int``"
    if isinstance(trait, (CaselessStrEnum, Enum)):
        choices = ", ".join(f"``{value!r}``" for value in trait.values or ())
        suffix = " (case-insensitive)" if isinstance(trait, CaselessStrEnum) else ""
        return f"one of {choices}{suffix}"
    if isinstance(trait, List):
        item = trait._trait  # the element trait, if one was given
        return "``list[str]``" if isinstance(item, Unicode) else "``list``"
    if isinstance(trait, Unicode):
        return "``str``"
    return f"``{type(trait).__name__}``"


def render(cls: type) -> str:
    """The reST reference of every configurable trait of ``cls``, in definition order."""
    traits = cls.class_traits(config=True)  # type: ignore[attr-defined]
    ordered = [name for name in vars(cls) if name in traits]
    ordered += sorted(name for name in traits if name not in ordered)
    parts = [HEADER]
    for name in ordered:
        trait = traits[name]
        help_text = inspect.cleandoc(trait.help or "(undocumented)")
        body = "\n".join(f"   {line}" if line else "" for line in help_text.splitlines())
        parts.append(
            f".. confval:: {cls.__name__}.{name}\n"
            f"   :type: {_type_text(trait)}\n"
            f"   :default: ``{trait.default_value_repr()}``\n"
            "\n"
            f"{body}\n"
            "\n"
        )
    return "".join(parts)


def generate(app: Sphinx) -> None:
    """``builder-inited`` handler: (re)write the reference if its text changed."""
    from hotreload_ext import HotReload

    target = Path(app.srcdir) / "_generated" / "config.rst"
    text = render(HotReload)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the generator."""
    app.connect("builder-inited", generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
