"""`from m import *` elsewhere follows edits of ``m`` as running the import again would."""

from __future__ import annotations

import sys

from hotreload_ext import Reloader
from tests.conftest import ModuleFiles, check


def test_star_imported_names_are_rebound_and_new_exports_appear(
    files: ModuleFiles, reloader: Reloader
) -> None:
    core, user = files.name("core"), files.name("user")
    files.load(core, "X = 1\n\ndef f():\n    return 'f'\n\n_private = 1\n")
    u = files.load(user, f"from {core} import *\n")
    reloader.discover()
    files.write(
        core, "X = 2\n\ndef f():\n    return 'f'\n\ndef g():\n    return 'g'\n\n_hidden = 2\n"
    )
    check(reloader)
    assert u.X == 2
    assert u.g() == "g"
    assert not hasattr(u, "_hidden"), "a private name is not exported by a star import"


def test_dunder_all_decides_what_a_star_import_brings(
    files: ModuleFiles, reloader: Reloader
) -> None:
    core, user = files.name("allcore"), files.name("alluser")
    files.load(core, "__all__ = ['X']\nX = 1\nY = 1\n")
    u = files.load(user, f"from {core} import *\n")
    reloader.discover()
    files.write(core, "__all__ = ['X']\nX = 2\nY = 2\nZ = 2\n")
    check(reloader)
    assert u.X == 2
    assert not hasattr(u, "Y")
    assert not hasattr(u, "Z")
    files.write(core, "__all__ = ['X', 'Z', 'W']\nX = 2\nY = 2\nZ = 3\nW = 4\n")
    check(reloader)
    assert (u.Z, u.W) == (3, 4)


def test_a_name_rebound_since_the_star_import_is_left_alone(
    files: ModuleFiles, reloader: Reloader
) -> None:
    core, user = files.name("mine_core"), files.name("mine_user")
    files.load(core, "X = 1\nY = 1\n")
    u = files.load(user, f"from {core} import *\nY = 'mine'\n")
    reloader.discover()
    files.write(core, "X = 2\nY = 2\n")
    check(reloader)
    assert u.X == 2
    assert u.Y == "mine"


def test_a_package_re_exporting_with_a_star_passes_new_names_on(
    files: ModuleFiles, reloader: Reloader
) -> None:
    pkg = files.name("pkg")
    files.write(pkg + ".__init__", "from .core import *\n")
    files.write(pkg + ".core", "def f():\n    return 1\n\nLIMIT = 1\n")
    user = files.name("consumer")
    u = files.load(user, f"from {pkg} import *\n")
    reloader.discover()
    files.write(pkg + ".core", "def f():\n    return 1\n\ndef g():\n    return 2\n\nLIMIT = 5\n")
    check(reloader)
    assert u.g() == 2
    assert u.LIMIT == 5


def test_names_no_longer_exported_leave_where_the_star_import_put_them(
    files: ModuleFiles, reloader: Reloader
) -> None:
    core, user, again = files.name("dropcore"), files.name("dropuser"), files.name("dropagain")
    files.load(core, "def f():\n    return 'f'\n\ndef g():\n    return 'g'\n\nKEEP = 1\n")
    u = files.load(user, f"from {core} import *\n")
    a = files.load(again, f"from {core} import *\ng = 'mine'\n")  # bound to its own value
    reloader.discover()

    files.write(core, "KEEP = 1\n")  # f and g deleted: a fresh import would not bind them
    check(reloader)

    assert not hasattr(u, "f")
    assert not hasattr(u, "g")
    assert not hasattr(a, "f")
    assert a.g == "mine"
    files.write(core, "__all__ = []\nKEEP = 1\n")  # no longer exported, though still bound
    check(reloader)
    assert not hasattr(u, "KEEP")


def test_a_removed_star_import_takes_its_names_away(files: ModuleFiles, reloader: Reloader) -> None:
    core, user = files.name("gonecore"), files.name("goneuser")
    files.load(core, "def f():\n    return 'f'\n\nX = 1\n")
    u = files.load(user, f"from {core} import *\n\nX = 2\n")
    reloader.discover()

    files.write(user, "X = 2\n")
    check(reloader)

    assert not hasattr(u, "f")
    assert u.X == 2, "a name the module binds itself stays"


def test_a_name_the_importer_binds_itself_stays_when_the_exporter_drops_it(
    files: ModuleFiles, reloader: Reloader
) -> None:
    core, user = files.name("owncore"), files.name("ownuser")
    files.load(core, "import json\n\ndef f():\n    return 'f'\n")
    u = files.load(user, f"import json\nfrom {core} import *\n")
    reloader.discover()

    files.write(core, "def f():\n    return 'f'\n")  # no longer imports (so exports) json
    check(reloader)

    assert u.json is sys.modules["json"]


def test_a_definition_moved_into_the_star_imported_module_stays_available(
    files: ModuleFiles, reloader: Reloader
) -> None:
    core, user = files.name("movecore"), files.name("moveuser")
    files.load(core, "X = 1\n")
    u = files.load(user, f"from {core} import *\n\ndef f():\n    return 'user'\n")
    reloader.discover()

    files.write(core, "X = 1\n\ndef f():\n    return 'core'\n")
    files.write(user, f"from {core} import *\n")
    check(reloader)

    assert u.f() == "core"


def test_a_new_all_naming_only_new_names_reaches_the_importer(
    files: ModuleFiles, reloader: Reloader
) -> None:
    core, user = files.name("swapcore"), files.name("swapuser")
    files.load(core, "def old():\n    return 1\n")
    u = files.load(user, f"from {core} import *\n")
    reloader.discover()

    files.write(core, "__all__ = ['new']\n\ndef old():\n    return 1\n\nnew = 2\n")
    check(reloader)

    assert u.new == 2
    assert not hasattr(u, "old")
