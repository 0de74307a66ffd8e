"""attrs, scikit-learn and pandas accessors: their class machinery survives an edit.

attrs generates ``__init__``, ``__repr__``, ``__eq__`` (and, slotted, makes a new class);
scikit-learn's ``set_output`` wraps ``transform`` in ``__init_subclass__``; a pandas accessor
is registered on ``DataFrame`` by a class decorator. Each test keeps old classes, instances and
bound methods, edits the file, and checks they behave as a fresh import of the edited file would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hotreload_ext import Reloader
from tests.conftest import ModuleFiles, check
from tests.conftest import fresh_import as fresh

# Imported here, not in the tests: the `files` fixture forgets the modules a test imported, and
# numpy's C extension cannot be imported twice in one process.
attrs = pytest.importorskip("attrs")
pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn.base")

# --- attrs ---------------------------------------------------------------------------------

ATTRS = """
import attrs

@attrs.{kind}
class Point:
    x: int
    y: int = 0

    def norm(self):
        return abs(self.x) + abs(self.y)
"""


@pytest.mark.parametrize("kind", ["define", "frozen", "mutable"])
def test_attrs_default_change_and_method_edit(
    files: ModuleFiles, reloader: Reloader, kind: str
) -> None:
    source = ATTRS.format(kind=kind)
    name = files.name("attrs")
    m = files.load(name, source)
    reloader.discover()
    Point, old = m.Point, m.Point(3, -4)
    norm = old.norm

    edited = source.replace("y: int = 0", "y: int = 5")
    files.write(name, edited)
    check(reloader)
    expected = fresh(files, edited).Point
    assert m.Point is Point
    assert repr(Point(1)) == repr(expected(1)) == "Point(x=1, y=5)"
    assert Point(1) == Point(1, 5)
    assert [a.name for a in attrs.fields(Point)] == ["x", "y"]
    assert attrs.fields(Point).y.default == 5
    assert attrs.evolve(old, x=1) == Point(1, -4)
    assert type(attrs.evolve(old, x=1)) is Point

    edited = edited.replace("abs(self.x) + abs(self.y)", "max(abs(self.x), abs(self.y))")
    files.write(name, edited)
    check(reloader)
    assert norm() == old.norm() == 4


def test_attrs_slotted_super_and_frozen(files: ModuleFiles, reloader: Reloader) -> None:
    source = """
    import attrs

    class Base:
        def describe(self):
            return "base"

    @attrs.frozen
    class Leaf(Base):
        x: int = 0

        def describe(self):
            return "leaf+" + super().describe()
    """
    name = files.name("attrs_super")
    m = files.load(name, source)
    reloader.discover()
    Leaf, old = m.Leaf, m.Leaf()

    edited = source.replace("x: int = 0", "x: int = 1").replace('"leaf+"', '"LEAF+"')
    files.write(name, edited)
    check(reloader)
    assert old.describe() == Leaf().describe() == "LEAF+base"
    assert Leaf().x == 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        old.x = 3


# --- scikit-learn --------------------------------------------------------------------------

SKLEARN = """
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

class Doubler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    def __init__(self, factor=2):
        self.factor = factor

    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = list(X.columns)
        return self

    def transform(self, X):
        return X.to_numpy() * self.factor
"""


@pytest.mark.parametrize(
    "edit",
    [
        ("X.to_numpy() * self.factor", "X.to_numpy() * self.factor + 1"),
        ("factor=2", "factor=3"),
        ("        return self\n", "        return self\n\n    LABEL = 'doubler'\n"),
    ],
)
def test_set_output_keeps_wrapping_transform(
    files: ModuleFiles, reloader: Reloader, edit: tuple[str, str]
) -> None:
    name = files.name("skl")
    m = files.load(name, SKLEARN)
    reloader.discover()
    Doubler = m.Doubler
    frame = pd.DataFrame({"a": [1, 2]})
    held = m.Doubler().set_output(transform="pandas").fit(frame)
    assert isinstance(held.transform(frame), pd.DataFrame)

    edited = SKLEARN.replace(*edit)
    files.write(name, edited)
    check(reloader)
    expected = fresh(files, edited).Doubler().set_output(transform="pandas").fit(frame)
    for transformer in (held, Doubler().set_output(transform="pandas").fit(frame)):
        out = transformer.transform(frame)
        assert isinstance(out, pd.DataFrame), "set_output's pandas wrapping was lost"
        assert out.equals(expected.transform(frame).set_axis(out.columns, axis=1)) or (
            transformer is held and edit[0] == "factor=2"
        )
        assert isinstance(transformer.fit_transform(frame), pd.DataFrame)


def test_a_transform_added_later_is_wrapped_too(files: ModuleFiles, reloader: Reloader) -> None:
    source = SKLEARN.replace(
        "    def transform(self, X):\n        return X.to_numpy() * self.factor\n", ""
    )
    name = files.name("skl_added")
    m = files.load(name, source)
    reloader.discover()
    Doubler = m.Doubler
    frame = pd.DataFrame({"a": [1, 2]})

    files.write(name, SKLEARN)
    report = reloader.check()
    assert not report.failed
    assert "set_output wraps transform" in " ".join(report.reloaded[0].reran)
    out = Doubler().set_output(transform="pandas").fit(frame).transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert out["a"].tolist() == [2, 4]


# --- pandas accessors ----------------------------------------------------------------------


@pytest.fixture
def accessor_name(files: ModuleFiles) -> Iterator[str]:
    name = f"{files.prefix}geo"
    yield name
    if name in pd.DataFrame.__dict__:
        delattr(pd.DataFrame, name)
    pd.DataFrame._accessors.discard(name)


ACCESSOR = """
import pandas as pd

@pd.api.extensions.register_dataframe_accessor("{name}")
class Geo:
    SCALE = 1

    def __init__(self, frame):
        self._frame = frame

    def center(self):
        return float(self._frame["x"].mean()) * self.SCALE
"""


@pytest.mark.filterwarnings("ignore:registration of accessor:UserWarning")
@pytest.mark.parametrize(
    "edit",
    [("float(self._frame", "1 + float(self._frame"), ("SCALE = 1", "SCALE = 10")],
)
def test_pandas_accessor_uses_the_live_class(
    files: ModuleFiles, reloader: Reloader, accessor_name: str, edit: tuple[str, str]
) -> None:
    source = ACCESSOR.format(name=accessor_name)
    name = files.name("acc")
    m = files.load(name, source)
    reloader.discover()
    Geo = m.Geo
    frame = pd.DataFrame({"x": [1.0, 3.0]})
    before = getattr(frame, accessor_name)

    files.write(name, source.replace(*edit))
    check(reloader)
    expected = 3.0 if edit[0] == "float(self._frame" else 20.0
    assert m.Geo is Geo
    accessor = getattr(pd.DataFrame({"x": [1.0, 3.0]}), accessor_name)
    assert type(accessor) is Geo
    assert accessor.center() == expected
    assert before.center() == expected
