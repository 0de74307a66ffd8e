"""Builds hotreload's optional C speedups; everything else is declared in pyproject.toml.

``hotreload_ext._speedups`` is the idle check's stat loop in C (see its source). It is optional:
without a C compiler, on Windows, or on another Python implementation, the install still
succeeds and hotreload uses the same loop in Python. ``HOTRELOAD_NO_SPEEDUPS=1`` skips it.
"""

import os
import platform

from setuptools import Extension, setup


def _extensions() -> list[Extension]:
    if (
        os.name != "posix"
        or platform.python_implementation() != "CPython"
        or os.environ.get("HOTRELOAD_NO_SPEEDUPS")
    ):
        return []
    return [Extension("hotreload_ext._speedups", ["hotreload_ext/_speedups.c"], optional=True)]


setup(ext_modules=_extensions())
