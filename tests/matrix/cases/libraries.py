"""Cases for classes built by third-party libraries: pydantic, attrs, scikit-learn, pandas.

A case whose library is not installed (or too old) is skipped, in the tests and in the table.
Each check asserts what a fresh import of that version would give.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, fields
from typing import Any

from tests.matrix.case import Case, case
from tests.matrix.cases import rows


@dataclass(frozen=True)
class LibraryCase(Case):
    """A case that needs third-party modules.

    Attributes:
        requires: Top-level module names, each optionally with a minimum major version
            (``"pydantic>=2"``).
    """

    requires: tuple[str, ...] = ()

    def skip_reason(self) -> str:
        """Why this case cannot run here: a missing or too old library, or the Python version."""
        for requirement in self.requires:
            name, _, major = requirement.partition(">=")
            if importlib.util.find_spec(name) is None:
                return f"needs {requirement}"
            if major:
                version = str(getattr(importlib.import_module(name), "__version__", "0"))
                if int(version.split(".")[0]) < int(major):
                    return f"needs {requirement}"
        return super().skip_reason()


def library_case(requires: tuple[str, ...], *args: Any, **options: Any) -> LibraryCase:
    """Build a :class:`LibraryCase` as :func:`case` builds a :class:`Case`."""
    built = case(*args, **options)
    values = {f.name: getattr(built, f.name) for f in fields(built)}
    return LibraryCase(**values, requires=requires)


CASES = (
    library_case(
        ("pydantic>=2",),
        "pydantic-field-added",
        rows.PYDANTIC,
        [
            {
                "mx": """
                from pydantic import BaseModel

                class User(BaseModel):
                    name: str

                    def greet(self):
                        return f"hi {self.name}"
                """
            },
            {
                "mx": """
                from pydantic import BaseModel

                class User(BaseModel):
                    name: str
                    age: int = 0

                    def greet(self):
                        return f"hello {self.name} ({self.age})"
                """
            },
        ],
        hold="""
            import mx
            from mx import User
            old = mx.User(name="a")
        """,
        checks=[
            """
            assert list(mx.User.model_fields) == ["name"]
            assert old.greet() == "hi a"
            made = User.model_validate({"name": "b", "age": 3})
            assert isinstance(made, mx.User) and not hasattr(made, "age")
            assert isinstance(old, mx.User)
            """,
            """
            assert list(mx.User.model_fields) == ["name", "age"]
            made = mx.User.model_validate({"name": "b", "age": 3})
            assert type(made) is mx.User
            assert made.age == 3 and made.greet() == "hello b (3)"
            held = User.model_validate({"name": "c"})
            assert isinstance(held, mx.User)
            assert held.age == 0
            assert User(name="d", age=4).model_dump() == {"name": "d", "age": 4}
            assert isinstance(old, mx.User)
            assert isinstance(old, User)
            assert old.name == "a"
            """,
        ],
        note="`User` and `old` are held from before the edit.",
    ),
    library_case(
        ("attrs",),
        "attrs-define",
        rows.ATTRS,
        [
            {
                "mx": """
                from attrs import define, fields

                @define
                class Point:
                    x: int
                    y: int = 0

                    def norm(self):
                        return self.x + self.y

                @define
                class Tag:
                    name: str

                    def label(self):
                        return f"tag {self.name}"
                """
            },
            {
                "mx": """
                from attrs import define, fields

                @define
                class Point:
                    x: int
                    y: int = 0
                    z: int = 10

                    def norm(self):
                        return self.x + self.y + self.z

                @define
                class Tag:
                    name: str

                    def label(self):
                        return f"TAG {self.name.upper()}"
                """
            },
        ],
        hold="""
            import attrs
            import mx
            from mx import Point, Tag
            tag = mx.Tag("a")
            bound = tag.label
        """,
        checks=[
            """
            assert [a.name for a in attrs.fields(mx.Point)] == ["x", "y"]
            assert Point(1, 2).norm() == 3
            assert tag.label() == "tag a" and bound() == "tag a"
            """,
            """
            assert [a.name for a in attrs.fields(mx.Point)] == ["x", "y", "z"]
            assert Point is mx.Point
            assert Point(1, 2).norm() == 13
            assert repr(mx.Point(1)) == "Point(x=1, y=0, z=10)"
            assert tag.label() == "TAG A"
            assert bound() == "TAG A"
            assert type(tag) is mx.Tag and Tag is mx.Tag
            assert tag == mx.Tag("a")
            """,
        ],
        note=(
            "`@define` makes slotted classes: adding a field changes `__slots__`, so `Point` is "
            "a replaced class, while `Tag` (a method edited) is updated in place."
        ),
    ),
    library_case(
        ("sklearn", "pandas"),
        "sklearn-set-output-pandas",
        rows.SKLEARN,
        [
            {
                "mx": """
                import numpy as np
                from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

                class Scale(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
                    def __init__(self, factor=2.0):
                        self.factor = factor

                    def fit(self, X, y=None):
                        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
                        self.n_features_in_ = X.shape[1]
                        return self

                    def transform(self, X):
                        return np.asarray(X, dtype=float) * self.factor
                """
            },
            {
                "mx": """
                import numpy as np
                from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

                class Scale(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
                    def __init__(self, factor=2.0):
                        self.factor = factor

                    def fit(self, X, y=None):
                        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
                        self.n_features_in_ = X.shape[1]
                        return self

                    def transform(self, X):
                        return np.asarray(X, dtype=float) * self.factor + 1
                """
            },
        ],
        hold="""
            import pandas as pd
            import mx
            df = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
            scaler = mx.Scale().set_output(transform="pandas").fit(df)
        """,
        checks=[
            """
            out = scaler.transform(df)
            assert isinstance(out, pd.DataFrame) and list(out.columns) == ["a", "b"]
            assert out["a"].tolist() == [2.0, 4.0]
            assert scaler.fit_transform(df)["b"].tolist() == [6.0, 8.0]
            """,
            """
            out = scaler.transform(df)
            assert isinstance(out, pd.DataFrame)
            assert list(out.columns) == ["a", "b"]
            assert out["a"].tolist() == [3.0, 5.0]
            again = scaler.fit_transform(df)
            assert isinstance(again, pd.DataFrame) and again["b"].tolist() == [7.0, 9.0]
            fresh = mx.Scale().set_output(transform="pandas").fit_transform(df)
            assert isinstance(fresh, pd.DataFrame) and fresh["a"].tolist() == [3.0, 5.0]
            assert isinstance(scaler, mx.Scale)
            """,
        ],
        note=(
            "scikit-learn wraps `transform` when the class is created (`__init_subclass__`) to "
            "turn its array into a DataFrame; the new body must run inside that wrapper."
        ),
    ),
    library_case(
        ("pandas",),
        "pandas-dataframe-accessor",
        rows.PANDAS_ACCESSOR,
        [
            {
                "mx": """
                import pandas as pd

                @pd.api.extensions.register_dataframe_accessor("mxacc")
                class MxAccessor:
                    def __init__(self, df):
                        self._df = df

                    def total(self):
                        return float(self._df.to_numpy().sum())
                """
            },
            {
                "mx": """
                import pandas as pd

                @pd.api.extensions.register_dataframe_accessor("mxacc")
                class MxAccessor:
                    def __init__(self, df):
                        self._df = df

                    def total(self):
                        return float(self._df.to_numpy().sum()) * 10
                """
            },
        ],
        hold="""
            import pandas as pd
            import mx
            df = pd.DataFrame({"a": [1, 2]})
            acc = df.mxacc
        """,
        checks=[
            """
            assert df.mxacc.total() == 3.0 and acc.total() == 3.0
            assert pd.DataFrame({"a": [5]}).mxacc.total() == 5.0
            """,
            """
            assert pd.DataFrame({"a": [5]}).mxacc.total() == 50.0
            assert df.mxacc.total() == 30.0
            assert acc.total() == 30.0
            assert isinstance(df.mxacc, mx.MxAccessor)
            """,
        ],
        note=(
            "pandas caches the accessor object on each DataFrame at first use: `df` (and `acc`) "
            "keep the instance made before the edit."
        ),
    ),
)
