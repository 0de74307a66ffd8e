"""Stage 6 (patch), scikit-learn: ``set_output`` wraps ``transform`` when the class is made.

``_SetOutputMixin.__init_subclass__`` (a base of every transformer) replaces the class's own
``transform`` and ``fit_transform`` by a wrapper that converts the result to the container
``set_output`` asked for (a pandas ``DataFrame``), and records which of them it wrapped. An
edit to such a method's body is patched inside the wrapper, like any decorated method
(``_redefine_class.py``); but a ``transform`` added to or removed from a class needs the
wrapping (or its record) made again, so the class statement runs through the mixin again.

scikit-learn is never imported here: a class is a transformer of this kind when its MRO holds
the mixin's record, ``_sklearn_auto_wrap_output_keys``.

This module must never import IPython.
"""

from __future__ import annotations

from ._journal import MISSING
from ._static import class_attribute

__all__ = ["processes_member"]

_WRAPPED = frozenset({"transform", "fit_transform"})


def processes_member(cls: type, name: str) -> str | None:
    """Why adding or removing the member ``name`` must make ``cls`` again, or None."""
    if name in _WRAPPED and class_attribute(cls, "_sklearn_auto_wrap_output_keys") is not MISSING:
        return f"scikit-learn's set_output wraps {name} when the class is made"
    return None
