"""How one line of the suite's table is declared, and computed from a run's pooled samples.

Each scenario in ``_scenarios.py`` declares the rows it reports as :class:`Row` records: where
each column's value comes from (a :data:`Value`: a function of a :class:`View` of the results),
the target, and what must be within it. ``_table.py`` renders every scenario's rows in one loop.
The helpers below build the values and the usual kinds of row.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._common import AUTO, HOT, NONE

# (scenario, configuration) -> one result per round, as the workers wrote them.
Runs = dict[tuple[str, str], list[dict[str, Any]]]


class View:
    """The pooled results of one scenario, as its rows read them."""

    def __init__(self, runs: Runs, scenario: str) -> None:
        self.runs = runs
        self.scenario = scenario

    def of(self, scenario: str | None) -> View:
        """The results of another scenario (for rows comparing two); ``None``: this one."""
        return self if scenario is None else View(self.runs, scenario)

    def median(self, config: str, metric: str) -> float | None:
        """The median of ``metric``, pooled over every round of ``config``."""
        values: list[float] = []
        for run in self.runs.get((self.scenario, config), []):
            values += run["metrics"].get(metric, [])
        return statistics.median(values) if values else None

    def info(self, config: str, key: str) -> Any:
        """A fact the workers of ``config`` recorded (from the first round that has it)."""
        for run in self.runs.get((self.scenario, config), []):
            if key in run["info"]:
                return run["info"][key]
        return None

    def hooks(self, config: str) -> float | None:
        """CPU milliseconds per cell inside the callbacks the configuration registered."""
        return divide(self.median(config, "hooks_cpu"), 1e6)

    def cell(self) -> float | None:
        """CPU milliseconds of a whole cell with no extension (the ``none`` column)."""
        return divide(self.median(NONE, "cell_cpu"), 1e6)

    def skip_reason(self) -> str | None:
        """Why a worker of this scenario measured nothing (its ``info["skipped"]``), if one did."""
        for scenario, config in self.runs:
            if scenario == self.scenario and self.info(config, "skipped"):
                return str(self.info(config, "skipped"))
        return None


# A column's value, in the row's unit; None when the run has no such sample.
Value = Callable[[View], float | None]
# A text that quotes a fact of the run (a label, a note).
Text = Callable[[View], str]


def divide(a: float | None, b: float | None) -> float | None:
    """``a / b``; None when either is missing or ``b`` is not positive."""
    if a is None or b is None or b <= 0:
        return None
    return a / b


def nothing(view: View) -> float | None:
    """The value of an empty column (``-``)."""
    return None


def hooks(config: str, of: str | None = None) -> Value:
    """``View.hooks`` of ``config``, in the row's scenario or in scenario ``of``."""
    return lambda view: view.of(of).hooks(config)


def cell(of: str | None = None) -> Value:
    """``View.cell``, in the row's scenario or in scenario ``of``."""
    return lambda view: view.of(of).cell()


def metric(config: str, name: str, divisor: float) -> Value:
    """The median of metric ``name`` of ``config``, divided into the row's unit."""
    return lambda view: divide(view.median(config, name), divisor)


def scaled(value: Value, factor: float) -> Value:
    """``value`` times ``factor`` (into a smaller unit)."""

    def scaled_value(view: View) -> float | None:
        number = value(view)
        return None if number is None else number * factor

    return scaled_value


def quotient(a: Value, b: Value) -> Value:
    """The ratio of two values (see :func:`divide`)."""
    return lambda view: divide(a(view), b(view))


def difference(a: Value, b: Value) -> Value:
    """``a - b``; None when either is missing."""

    def difference_value(view: View) -> float | None:
        x, y = a(view), b(view)
        return None if x is None or y is None else x - y

    return difference_value


@dataclass(frozen=True)
class Line:
    """One rendered line of the table; values are already in the line's unit."""

    label: str
    none: float | None
    auto: float | None
    hot: float | None
    ratio: float | None
    target: str
    met: bool | None
    unit: str
    note: str


@dataclass(frozen=True)
class Row:
    """One line of the table as its scenario declares it: how each column is computed.

    Attributes:
        label: The first column; a function of the results when it quotes a recorded fact.
        hot: The hotreload column. ``none`` and ``auto`` are the other two columns (for the
            ``none`` configuration and ``%autoreload 2``, unless the label says otherwise) and
            ``ratio`` the ratio column; each left out is ``-``.
        target: The target column's text.
        limit: Makes the row a target, met when ``checked`` (the ratio unless given) is at most
            ``limit``; without it the met column is ``-``.
        unit: The unit of the three value columns.
        needs: Other scenarios the row reads: it is left out unless they all ran too.
        optional: The row is left out when ``hot`` has no value (a metric not always recorded).
        note: A line under the table about this row, when it returns a non-empty text.
    """

    label: str | Text
    hot: Value
    none: Value = nothing
    auto: Value = nothing
    ratio: Value = nothing
    target: str = "(for scale)"
    limit: float | None = None
    checked: Value | None = None
    unit: str = "ms"
    needs: tuple[str, ...] = ()
    optional: bool = False
    note: Text | None = None

    def line(self, view: View) -> Line | None:
        """This row computed from ``view`` (its scenario's results); None to leave it out."""
        hot = self.hot(view)
        if hot is None and self.optional:
            return None
        ratio = self.ratio(view)
        checked = ratio if self.checked is None else self.checked(view)
        met = None if self.limit is None or checked is None else checked <= self.limit
        return Line(
            label=self.label if isinstance(self.label, str) else self.label(view),
            none=self.none(view),
            auto=self.auto(view),
            hot=hot,
            ratio=ratio,
            target=self.target,
            met=met,
            unit=self.unit,
            note="" if self.note is None else self.note(view),
        )


def versus(
    label: str | Text,
    limit: float | None = None,
    target: str = "(reference)",
    *,
    needs: tuple[str, ...] = (),
    note: Text | None = None,
) -> Row:
    """The scenario's three configurations; the ratio is hotreload / ``%autoreload 2``."""
    return Row(
        label,
        hot=hooks(HOT),
        none=cell(),
        auto=hooks(AUTO),
        ratio=quotient(hooks(HOT), hooks(AUTO)),
        target=target,
        limit=limit,
        needs=needs,
        note=note,
    )


def relative(label: str, to: str, limit: float, target: str) -> Row:
    """The scenario's three configurations; the ratio is hotreload here / hotreload in ``to``."""
    return Row(
        label,
        hot=hooks(HOT),
        none=cell(),
        auto=hooks(AUTO),
        ratio=quotient(hooks(HOT), hooks(HOT, to)),
        target=target,
        limit=limit,
        needs=(to,),
    )


def at_most(label: str, value: Value, limit: float, unit: str) -> Row:
    """A hotreload figure with no ``%autoreload`` counterpart, met when at most ``limit``."""
    return Row(
        label, hot=value, target=f"<= {limit:g} {unit}", limit=limit, checked=value, unit=unit
    )
