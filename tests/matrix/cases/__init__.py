"""Every case of the patching matrix, and the rows of issue 3 they prove.

The test suite (``tests/matrix/test_matrix.py``) and the behaviour table
(``scripts/behaviour-table``) both read :data:`CASES`, so the table cannot drift from the tests.
"""

from __future__ import annotations

from tests.matrix.case import Case
from tests.matrix.cases import classes, data, functions, libraries, modules, names, stdlib
from tests.matrix.cases.rows import ROWS

CASES: tuple[Case, ...] = (
    *functions.CASES,
    *classes.CASES,
    *data.CASES,
    *names.CASES,
    *modules.CASES,
    *stdlib.CASES,
    *libraries.CASES,
)
BY_ID = {c.id: c for c in CASES}

__all__ = ["BY_ID", "CASES", "ROWS"]
