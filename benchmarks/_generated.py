"""The module sets the speed suite generates, and how big each is (full or --quick).

Every edit a scenario makes has two versions of the same length (a typo fix), so that a reload
is timed, not a file growing; ``version`` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._common import module_name, module_source, write_sources


def defs_name(count: int) -> str:
    return f"hrb_defs_{count}"


def defs_source(count: int, version: int = 0) -> str:
    """One module of ``count`` function definitions; ``version`` changes the middle one's body."""
    edited = count // 2
    parts = [f'"""Generated: one module of {count} definitions."""\n\nimport math\n']
    for i in range(count):
        extra = 1 + version if i == edited else 1
        parts.append(
            f"\n\ndef func_{i:05d}(x, y=1):\n"
            f'    """Definition {i} of {count}."""\n'
            f"    total = math.floor(x * {i % 97 + 1}) + y\n"
            f"    return total + {extra}\n"
        )
    return "".join(parts)


def defs_expected(count: int, version: int) -> tuple[str, int]:
    """The edited function's name and what it returns for x=1 in ``version``."""
    edited = count // 2
    return f"func_{edited:05d}", (edited % 97 + 1) + 1 + (1 + version)


SHAPES = "hrb_shapes"


def shapes_source(version: int = 0) -> str:
    """A class whose method body an edit changes: hotreload patches it in place."""
    return (
        '"""Generated: a class with many instances; edits change a method body."""\n\n\n'
        "class Point:\n"
        "    def __init__(self, x):\n"
        "        self.x = x\n\n"
        "    def value(self):\n"
        f"        return self.x + {1 + version}\n\n"
        "    def __repr__(self):\n"
        '        return f"Point({self.x})"\n'
    )


def layout_name(classes: int) -> str:
    return f"hrb_layout_{classes}"


def layout_source(classes: int, version: int = 0) -> str:
    """``classes`` classes whose base an edit switches: none can be patched in place."""
    base = "BaseB" if version % 2 else "BaseA"
    parts = [
        f'"""Generated: {classes} classes whose base class an edit changes."""\n\n\n'
        "class BaseA:\n"
        "    def tag(self):\n"
        '        return "a"\n\n\n'
        "class BaseB:\n"
        "    def tag(self):\n"
        '        return "b"\n'
    ]
    for i in range(classes):
        parts.append(
            f"\n\nclass Shape{i}({base}):\n    def __init__(self, i):\n        self.i = i\n"
        )
    return "".join(parts)


BASE = "hrb_base"


def importer_name(index: int) -> str:
    return f"hrb_imp_{index:04d}"


def base_source(version: int = 0) -> str:
    """``helper`` is a tuple: no edit of it can be patched in place, so importers are rebound."""
    return (
        '"""Generated: a base module that many modules import a name from."""\n\n\n'
        "def _scale(x, k):\n"
        "    return x * k\n\n\n"
        f"helper = (_scale, {1 + version})\n"
    )


def importer_source(index: int) -> str:
    return (
        f'"""Generated: importer {index} of the base module."""\n\n'
        f"from {BASE} import helper\n\n\n"
        f"def use_{index:04d}(x):\n"
        "    scale, k = helper\n"
        f"    return scale(x, k) + {index}\n"
    )


@dataclass(frozen=True)
class Sizes:
    """How big each generated set is (full or --quick)."""

    users: int
    defs: tuple[int, int]
    instances: int
    unrelated: int
    layout_classes: int
    importers: tuple[int, int]
    cells: int
    edits: int
    growth_reloads: int


FULL = Sizes(
    users=5000,
    defs=(1000, 5000),
    instances=1_000_000,
    unrelated=1_000_000,
    layout_classes=5,
    importers=(200, 1000),
    cells=300,
    edits=5,
    growth_reloads=1000,
)
QUICK = Sizes(
    users=400,
    defs=(200, 1000),
    instances=100_000,
    unrelated=100_000,
    layout_classes=5,
    importers=(50, 250),
    cells=60,
    edits=2,
    growth_reloads=100,
)


def generate(root: Path, sizes: Sizes) -> dict[str, str]:
    """Write every module set; return the directory of each."""
    dirs = {name: root / name for name in ("users", "defs", "classes", "fanout")}
    write_sources(dirs["users"], {module_name(i): module_source(i) for i in range(sizes.users)})
    write_sources(dirs["defs"], {defs_name(n): defs_source(n) for n in sizes.defs})
    classes = {SHAPES: shapes_source()}
    for count in (1, sizes.layout_classes):
        classes[layout_name(count)] = layout_source(count)
    write_sources(dirs["classes"], classes)
    fanout = {BASE: base_source()}
    fanout.update({importer_name(i): importer_source(i) for i in range(max(sizes.importers))})
    write_sources(dirs["fanout"], fanout)
    return {name: str(path) for name, path in dirs.items()}
