"""The suite's own isolation: what a test imports is forgotten, except installed libraries."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from tests.conftest import restore_modules


def test_a_test_module_is_forgotten_and_a_library_submodule_stays(tmp_path: Path) -> None:
    # colorsys stands for a library submodule imported lazily for the first time inside a test
    # (pydantic's validator machinery is): forgetting it while its importers stay loaded would
    # leave two copies of its classes in the process.
    library = sys.modules.pop("colorsys", None)
    (tmp_path / "isolation_probe.py").write_text("import colorsys\n", encoding="utf-8")
    before = dict(sys.modules)
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.import_module("isolation_probe")
        forgotten = restore_modules(before)
    finally:
        sys.path.remove(str(tmp_path))
    try:
        assert forgotten == ["isolation_probe"]
        assert "isolation_probe" not in sys.modules
        assert "colorsys" in sys.modules
    finally:
        if library is not None:
            sys.modules["colorsys"] = library


def test_a_hostile_entry_is_forgotten_without_touching_its_attributes() -> None:
    class Hostile:
        def __getattribute__(self, name: str) -> object:
            raise AssertionError(name)

    before = dict(sys.modules)
    sys.modules["isolation_hostile"] = Hostile()  # type: ignore[assignment]
    assert restore_modules(before) == ["isolation_hostile"]
    assert "isolation_hostile" not in sys.modules
