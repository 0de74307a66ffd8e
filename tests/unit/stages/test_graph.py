"""Stage 2b, the plan (``_graph.order_modules``): changed modules in dependency order."""

from __future__ import annotations

from hotreload_ext._graph import order_modules


def test_a_module_comes_after_the_modules_it_imports() -> None:
    imports = {"app": {"models", "utils"}, "models": {"utils"}, "utils": set()}
    assert order_modules(["app", "models", "utils"], imports) == ["utils", "models", "app"]


def test_modules_already_in_order_keep_it() -> None:
    imports = {"b": {"a"}, "c": {"b"}}
    assert order_modules(["a", "b", "c"], imports) == ["a", "b", "c"]


def test_unrelated_modules_keep_the_given_order() -> None:
    assert order_modules(["z", "a", "m"], {}) == ["z", "a", "m"]


def test_unrelated_modules_keep_their_order_around_a_dependency() -> None:
    imports = {"c": {"d"}}
    assert order_modules(["a", "b", "c", "d", "e"], imports) == ["a", "b", "d", "c", "e"]


def test_a_cycle_keeps_the_given_order() -> None:
    imports = {"a": {"b"}, "b": {"a"}}
    assert order_modules(["a", "b"], imports) == ["a", "b"]
    assert order_modules(["b", "a"], imports) == ["b", "a"]


def test_a_three_module_cycle_keeps_the_given_order() -> None:
    imports = {"a": {"c"}, "b": {"a"}, "c": {"b"}}
    assert order_modules(["b", "c", "a"], imports) == ["b", "c", "a"]


def test_a_cycle_comes_after_what_it_imports_and_before_its_importers() -> None:
    imports = {"main": {"x"}, "x": {"y", "base"}, "y": {"x"}, "base": set()}
    assert order_modules(["main", "y", "x", "base"], imports) == ["base", "y", "x", "main"]


def test_dependencies_outside_the_set_are_ignored() -> None:
    imports = {"b": {"os", "numpy", "a"}, "a": {"sys"}}
    assert order_modules(["b", "a"], imports) == ["a", "b"]


def test_modules_missing_from_the_import_map_have_no_dependencies() -> None:
    assert order_modules(["b", "a"], {"b": {"a"}}) == ["a", "b"]


def test_a_module_importing_itself_is_not_a_problem() -> None:
    assert order_modules(["a", "b"], {"a": {"a"}, "b": {"b", "a"}}) == ["a", "b"]


def test_duplicate_names_are_ordered_once() -> None:
    assert order_modules(["a", "b", "a"], {"a": {"b"}}) == ["b", "a"]


def test_any_iterable_of_names() -> None:
    assert order_modules(iter(["b", "a"]), {"b": {"a"}}) == ["a", "b"]


def test_empty() -> None:
    assert order_modules([], {}) == []


def test_a_long_dependency_chain_is_ordered() -> None:
    count = 3000
    names = [f"m{i}" for i in range(count)]
    imports = {f"m{i}": {f"m{i + 1}"} for i in range(count - 1)}
    assert order_modules(names, imports) == names[::-1]
