"""The hotreload demo: ``python -m demo`` (or ``scripts/demo``).

A scripted terminal IPython session in a fresh temporary directory. This script plays both the
person at the prompt (it sends the cells) and their editor (it rewrites ``shapes.py`` between
cells); everything under an ``In [n]:`` line is what the real IPython printed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from demo.driver import TerminalSession, save, session_env

SHAPES_V1 = '''\
"""Shapes, as first written."""

import math


def area(r):
    """The area of a circle of radius r."""
    return 2 * math.pi * r  # oops: that is the perimeter


class Circle:
    def __init__(self, r):
        self.r = r

    def describe(self):
        return f"Circle(r={self.r})"
'''

SHAPES_V2 = '''\
"""Shapes, with the area fixed."""

import math


def area(r):
    """The area of a circle of radius r."""
    return math.pi * r**2


def perimeter(circle):
    return 2 * math.pi * circle.r


class Circle:
    def __init__(self, r):
        self.r = r

    def describe(self):
        return f"Circle(r={self.r}, area={area(self.r):.2f})"

    def scale(self, factor):
        return Circle(self.r * factor)
'''

# Saved halfway through typing: the f-string's closing brace is missing.
SHAPES_V3_BROKEN = SHAPES_V2.replace(
    'return f"Circle(r={self.r}, area={area(self.r):.2f})"',
    'return f"Circle(r={self.r}, area={area(self.r):.2f}, perimeter={perimeter(self):.2f)"',
)

SHAPES_V4 = SHAPES_V2.replace(
    'return f"Circle(r={self.r}, area={area(self.r):.2f})"',
    'return f"Circle(r={self.r}, area={area(self.r):.2f}, perimeter={perimeter(self):.2f})"',
)


def show(ipython: TerminalSession, cell: str) -> None:
    """Run one cell and print it the way the terminal showed it."""
    result = ipython.run(cell)
    prompt = f"In [{result.number}]: "
    print(prompt + cell.replace("\n", "\n" + " " * (len(prompt) - 5) + "...: "))
    if result.stdout:
        print(result.stdout)
    print()


def editor(path: Path, text: str, what: str) -> None:
    """Save a new version of a file, as the user's editor would, and say what changed."""
    save(path, text)
    print(f"# editor: {path.name} — {what}")
    print()


def main() -> int:
    """Run the demo; return the exit status."""
    with tempfile.TemporaryDirectory(prefix="hotreload-demo-") as tmp:
        workdir = Path(tmp)
        shapes = workdir / "shapes.py"
        save(shapes, SHAPES_V1)
        print(f"# A fresh directory {workdir} holding shapes.py:")
        for line in SHAPES_V1.splitlines():
            print(f"#   {line}".rstrip())
        print()
        env = session_env(workdir / "ipython", pythonpath=[workdir])
        # stderr merged into stdout: hotreload's failure lines (stderr) and the cells' output
        # (stdout) appear in the order the terminal would show them.
        with TerminalSession(cwd=workdir, env=env, merge_stderr=True) as ipython:
            show(ipython, "%load_ext hotreload")
            show(ipython, "import shapes; from shapes import area; c = shapes.Circle(3)")
            show(ipython, "area(1), c.describe()")
            editor(
                shapes,
                SHAPES_V2,
                "fixed area(), changed Circle.describe(), added Circle.scale() and perimeter()",
            )
            show(ipython, "area(1), c.describe()")
            show(ipython, "c.scale(2).describe(), shapes.perimeter(c)")
            editor(shapes, SHAPES_V3_BROKEN, "saved half-way: a '}' is missing in describe()")
            show(ipython, "c.describe()")
            show(ipython, "area(2)")
            editor(shapes, SHAPES_V4, "fixed the typo")
            show(ipython, "c.describe()")
            show(ipython, "%hotreload")
            status = ipython.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
