"""Issue 3's patching matrix, case by case, with hotreload in a real in-process IPython shell.

The cases live in ``tests/matrix/cases/``; ``scripts/behaviour-table`` runs the same cases
against both hotreload and ``%autoreload 2`` and writes ``docs/behaviour.md``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from tests.matrix.case import Case, run_case
from tests.matrix.cases import CASES, ROWS


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, matrix_shell: InteractiveShell, tmp_path: Path) -> None:
    reason = case.skip_reason()
    if reason:
        pytest.skip(reason)
    result = run_case(matrix_shell, case, tmp_path / "src", "hotreload", strict=True)
    failures = [f"{step.label}: {step.detail}" for step in result.steps if not step.ok]
    assert not failures, f"{case.id} ({case.row}):\n" + "\n".join(failures)


def test_every_row_has_a_case() -> None:
    covered = {c.row for c in CASES}
    assert [row for row in ROWS if row not in covered] == []
    assert [c.id for c in CASES if c.row not in ROWS] == []


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert sorted(ids) == sorted(set(ids))
