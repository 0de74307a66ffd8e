"""Stage 6 on its own: a draft adopted by the live class, and the library adapters.

These drive :class:`Patcher` directly on namespaces made by ``exec`` (``FakeModule`` of the
patch stage's tests): what the class machinery handed the draft is pointed at the live class,
subclasses that copied from an old definition are named, and a rollback undoes all of it.
"""

from __future__ import annotations

import abc
from typing import Any

import pytest

from hotreload_ext._adopt import is_draft, repoint_drafts
from hotreload_ext._journal import Journal
from hotreload_ext._libraries import Stale, processes_member
from hotreload_ext._library_abc import refresh
from tests.unit.stages.test_patch import MODULE, FakeModule, run

pydantic = pytest.importorskip("pydantic")

REGISTRY = """\
import dataclasses

BY_NAME = {}
BY_CLASS = {}
ORDER = []
SEEN = set()
MADE = []

class Base:
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        BY_NAME[cls.__name__] = cls
        BY_CLASS[cls] = cls.VERSION
        ORDER.append(cls)
        SEEN.add(cls)
        MADE.append(cls())

class Plugin(Base):
    VERSION = 1
"""


def commit(module: FakeModule) -> list[Stale]:
    module.patcher.commit()
    return module.patcher.stale


def test_what_the_machinery_handed_the_draft_points_at_the_live_class() -> None:
    module = FakeModule(REGISTRY)
    plugin, made = module["Plugin"], module["MADE"][0]
    module.reload("class Plugin(Base):\n    VERSION = 2\n")
    draft = module["BY_NAME"]["Plugin"]
    assert draft is not plugin
    assert is_draft(draft)
    assert commit(module) == []

    assert module["Plugin"] is plugin
    assert module["BY_NAME"] == {"Plugin": plugin}
    assert module["BY_CLASS"] == {plugin: 2}
    assert module["ORDER"] == [plugin], "registered once, as in a fresh import"
    assert module["SEEN"] == {plugin}
    assert [type(x) for x in module["MADE"]] == [plugin, plugin]
    assert made is module["MADE"][0]


def test_a_rollback_puts_the_drafts_back() -> None:
    module = FakeModule(REGISTRY)
    plugin = module["Plugin"]
    module.reload("class Plugin(Base):\n    VERSION = 2\n")
    draft = module["BY_NAME"]["Plugin"]
    commit(module)
    assert module.journal.rollback() == []
    assert module["BY_NAME"]["Plugin"] is draft
    assert module["ORDER"] == [plugin, draft]
    assert type(module["MADE"][1]) is draft
    assert plugin.VERSION == 1


def test_repointing_nothing_costs_nothing() -> None:
    assert repoint_drafts([], Journal(), []) == 0


def test_a_draft_set_on_another_class_is_set_through_setattr() -> None:
    module = FakeModule(
        """\
        class Holder:
            pass

        class Base:
            def __init_subclass__(cls, **kwargs):
                super().__init_subclass__(**kwargs)
                setattr(Holder, cls.__name__, cls)

        class Plugin(Base):
            VERSION = 1
        """
    )
    plugin = module["Plugin"]
    module.reload("class Plugin(Base):\n    VERSION = 2\n")
    commit(module)
    assert module["Holder"].Plugin is plugin


def test_a_dataclass_subclass_elsewhere_is_named_stale() -> None:
    module = FakeModule(
        """\
        import dataclasses

        @dataclasses.dataclass
        class Point:
            x: int = 0
        """
    )
    other: dict[str, Any] = {"__name__": "other_mod", "Point": module["Point"]}
    run(
        "import dataclasses\n@dataclasses.dataclass\nclass Point3(Point):\n    z: int = 0\n",
        other,
        "other_mod.py",
    )
    run("class Plain(Point):\n    pass\n", other, "other_mod.py")
    module.reload("@dataclasses.dataclass\nclass Point:\n    x: int = 0\n    y: int = 0\n")
    stale = commit(module)
    assert [s.name for s in stale] == ["other_mod.Point3"], "Plain copied nothing"
    assert str(stale[0]) == (
        f"other_mod.Point3 was made from the old {MODULE}.Point and keeps its old dataclass"
        " fields; reload other_mod to update it (%hotreload now other_mod)"
    )
    assert other["Plain"]().y == 0, "a plain subclass inherits the live class"


def test_an_unchanged_definition_names_nothing_stale() -> None:
    source = (
        "import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int = 0\n    n: str = 'a'\n"
    )
    module = FakeModule(source)
    other: dict[str, Any] = {"__name__": "other_mod", "P": module["P"]}
    run(
        "import dataclasses\n@dataclasses.dataclass\nclass Q(P):\n    z: int = 0\n",
        other,
        "other_mod.py",
    )
    module.reload(source + "P.extra = 1\n")
    assert commit(module) == []


def test_a_pydantic_model_adopts_a_validator_built_for_it() -> None:
    module = FakeModule("from pydantic import BaseModel\nclass M(BaseModel):\n    a: int = 1\n")
    model = module["M"]
    other: dict[str, Any] = {"__name__": "other_mod", "M": model}
    run("from pydantic import BaseModel\nclass Sub(M):\n    z: int = 0\n", other, "other_mod.py")
    run("class Holder(BaseModel):\n    m: M\n", other, "other_mod.py")
    module.reload("class M(BaseModel):\n    a: int = 1\n    b: int = 2\n")
    assert type(model.model_validate({})) is model
    stale = commit(module)
    assert [(s.name, s.kept) for s in stale] == [("other_mod.Sub", "pydantic fields")]
    assert other["Holder"].model_validate({"m": {}}).m.b == 2

    assert module.journal.rollback() == []
    assert list(model.model_fields) == ["a"]
    assert model().model_dump() == {"a": 1}


def test_libraries_that_find_members_by_name() -> None:
    namespace: dict[str, Any] = {}
    exec(
        "from typing import Protocol\nclass P(Protocol):\n    def f(self): ...\n"
        "class Q(P):\n    pass\n"
        "class T:\n    _sklearn_auto_wrap_output_keys = {'transform'}\n",
        namespace,
    )
    assert processes_member(namespace["P"], "g") is not None
    assert processes_member(namespace["Q"], "g") is None, "a class implementing a Protocol"
    assert processes_member(namespace["T"], "transform") is not None
    assert processes_member(namespace["T"], "helper") is None


def test_abc_caches_are_cleared_for_classes_asked_about() -> None:
    class Sized(abc.ABC):  # noqa: B024 - only its __subclasshook__ matters here
        answer = True

        @classmethod
        def __subclasshook__(cls, other: type) -> bool:
            return cls.answer

    class Asked:
        pass

    assert issubclass(Asked, Sized)
    Sized.answer = False
    assert issubclass(Asked, Sized), "answered from the cache"
    refresh([Asked], [Asked])
    assert not issubclass(Asked, Sized)
