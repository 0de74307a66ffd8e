"""Stage 3: what changed inside a module.

The new source is parsed once and split into its top-level statements. Each statement is keyed by
its exact source text, so a statement that merely moved (lines inserted above it) still matches its
old self. The reload stage uses the result to decide which statements must run again.

This module must never import IPython: the engine runs without it.
"""

from __future__ import annotations
import __future__

import ast
from collections import Counter
from dataclasses import dataclass, field

from ._digest import digest_bytes

__all__ = [
    "ModuleDiff",
    "ParsedSource",
    "Statement",
    "body_statements",
    "diff_sources",
    "header_key",
    "make_statement",
    "match_statements",
    "parse_source",
]

# Calls that read or write the module namespace behind the static analysis' back. A changed
# statement that makes one of them forces a full re-run of the module body.
_DYNAMIC_CALLS = frozenset({"exec", "eval", "globals", "vars", "locals", "__import__", "setattr"})


@dataclass(frozen=True)
class Statement:
    """One top-level statement of a module, with what it binds and reads.

    Attributes:
        node: The statement's AST node, carrying its real line numbers in the file.
        text: Its exact source text, decorators included; the key used to match old and new.
        lineno: First line (the first decorator's line for a decorated definition).
        end_lineno: Last line.
        binds: Module-level names the statement assigns, defines, imports or deletes.
        reads: Module-level names the statement reads while it runs. Function bodies are left out:
            they read globals when called, not when defined.
        uses: The subset of ``reads`` the statement does more with than pass along: calls it,
            reads an attribute or item of it, iterates or computes with it. A name that is only
            passed as an argument, stored in a container or assigned (``register(handler)``,
            ``HANDLERS = [handler]``) is read but not used: if its object kept its identity
            across the reload, running the statement again would produce the same result.
        is_dynamic: True when the statement defeats static analysis (``global``, ``exec``,
            star imports, or it mutates an object through an attribute or a subscript).
    """

    node: ast.stmt
    text: str
    lineno: int
    end_lineno: int
    binds: frozenset[str]
    reads: frozenset[str]
    is_dynamic: bool
    uses: frozenset[str] = frozenset()

    @property
    def decorator_names(self) -> frozenset[str]:
        """Module-level names the decorators of a ``def``/``class`` statement call or inspect."""
        names: set[str] = set()
        for decorator in getattr(self.node, "decorator_list", []):
            names |= {n.id for n in ast.walk(decorator) if isinstance(n, ast.Name)}
        return frozenset(names & self.uses)

    @property
    def kind(self) -> str:
        """``def``, ``class`` or ``statement``: how the report names it."""
        if isinstance(self.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return "def"
        if isinstance(self.node, ast.ClassDef):
            return "class"
        return "statement"

    @property
    def summary(self) -> str:
        """The statement's first line, shortened, for the verbose report."""
        first = self.text.strip().splitlines()[0] if self.text.strip() else ""
        return first if len(first) <= 60 else first[:57] + "..."


@dataclass(frozen=True)
class ParsedSource:
    """A module's source text, parsed and split into statements."""

    filename: str
    text: str
    tree: ast.Module
    statements: tuple[Statement, ...]
    compile_flags: int
    digest: bytes
    region: tuple[int, int] | None = None

    @property
    def docstring_known(self) -> bool:
        """Whether :attr:`docstring` is the module's (a partial parse may not include it)."""
        return self.region is None or self.region[0] == 1

    @property
    def docstring(self) -> str | None:
        """The module docstring, as ``__doc__`` would hold it."""
        return ast.get_docstring(self.tree, clean=False)

    def bound_names(self) -> frozenset[str]:
        """Every module-level name some statement binds."""
        names: set[str] = set()
        for statement in self.statements:
            names |= statement.binds
        return frozenset(names)


@dataclass(frozen=True)
class ModuleDiff:
    """The statement-level difference between the running source and the new one.

    Attributes:
        new: The parsed new source.
        changed: Indexes into ``new.statements`` whose text is new or changed.
        moved: ``(index, line_delta)`` for unchanged statements whose first line moved.
        deleted_names: Names bound by the old source and by no statement of the new one.
        removed: Old statements that have no counterpart in the new source.
        old: The parsed running source, if it is known.
    """

    new: ParsedSource
    changed: frozenset[int]
    moved: tuple[tuple[int, int], ...]
    deleted_names: frozenset[str]
    removed: tuple[Statement, ...] = field(default=())
    old: ParsedSource | None = None

    @property
    def is_empty(self) -> bool:
        """True when no statement changed, moved or disappeared."""
        return not (self.changed or self.moved or self.removed)

    def deleted_definitions(self) -> list[Statement]:
        """Removed ``def``/``class`` statements that no changed statement is a new version of.

        When two old definitions share a name and only one remains, both count: which one was
        deleted is unknowable, and counting both only makes more statements run.
        """
        changed = Counter(_definition_key(self.new.statements[i]) for i in self.changed)
        removed = Counter(_definition_key(s) for s in self.removed)
        return [
            s
            for s in self.removed
            if (key := _definition_key(s)) is not None and removed[key] > changed[key]
        ]

    def counterpart(self, index: int) -> Statement | None:
        """The old version of the changed definition ``new.statements[index]``, if unambiguous.

        That is the one removed old ``def``/``class`` of the same name and kind, when the new
        source also has just one changed definition of that name and kind.
        """
        return _counterpart(self.new.statements[index], self.new.statements, self.removed)

    def describe(self) -> tuple[list[str], list[str], list[str]]:
        """Names updated, added and removed, with class members as ``Cls.member``."""
        old_names = self.old.bound_names() if self.old is not None else frozenset()
        old_classes = _class_nodes(self.old)
        updated: list[str] = []
        added: list[str] = []
        for index in sorted(self.changed):
            statement = self.new.statements[index]
            node = statement.node
            if isinstance(node, ast.ClassDef) and node.name in old_classes:
                members = _member_changes(old_classes[node.name], node, self.old, self.new)
                if members is not None:
                    member_updated, member_added, member_removed = members
                    updated += [f"{node.name}.{m}" for m in member_updated]
                    updated += [f"{node.name}.{m} (removed)" for m in member_removed]
                    added += [f"{node.name}.{m}" for m in member_added]
                    if not (member_updated or member_added or member_removed):
                        updated.append(node.name)
                    continue
            for name in sorted(statement.binds):
                (updated if name in old_names else added).append(name)
        return _unique(updated), _unique(added), sorted(self.deleted_names)


def parse_source(text: str, filename: str) -> ParsedSource:
    """Parse module source into statements.

    Raises:
        SyntaxError: The text does not parse; the error names ``filename`` and the line.
    """
    tree = ast.parse(text, filename=filename, type_comments=False)
    lines = text.splitlines(keepends=True)
    statements = tuple(_make_statement(node, lines) for node in tree.body)
    return ParsedSource(
        filename=filename,
        text=text,
        tree=tree,
        statements=statements,
        compile_flags=_future_flags(tree),
        digest=digest_bytes(text.encode("utf-8", "surrogatepass")),
    )


def diff_sources(old: ParsedSource | None, new: ParsedSource) -> ModuleDiff:
    """Match the new statements to the old ones by text.

    With no old source every statement counts as changed (a full run).
    """
    if old is None:
        return ModuleDiff(
            new=new,
            changed=frozenset(range(len(new.statements))),
            moved=(),
            deleted_names=frozenset(),
        )
    changed, moved, removed = match_statements(old.statements, new.statements)
    return ModuleDiff(
        new=new,
        changed=frozenset(changed),
        moved=tuple(moved),
        deleted_names=old.bound_names() - new.bound_names(),
        removed=tuple(removed),
        old=old,
    )


def match_statements(
    old: tuple[Statement, ...], new: tuple[Statement, ...]
) -> tuple[list[int], list[tuple[int, int]], list[Statement]]:
    """Match statements by text: new indexes changed, ``(index, line delta)`` moved, old removed.

    Used for module bodies and for class bodies alike.
    """
    # A multiset, so two identical statements (say, two `print()` calls) match one-to-one.
    available: Counter[str] = Counter(s.text for s in old)
    old_lines: dict[str, list[int]] = {}
    for statement in old:
        old_lines.setdefault(statement.text, []).append(statement.lineno)
    changed: list[int] = []
    moved: list[tuple[int, int]] = []
    for index, statement in enumerate(new):
        if available[statement.text] > 0:
            available[statement.text] -= 1
            old_lineno = old_lines[statement.text].pop(0)
            if old_lineno != statement.lineno:
                moved.append((index, statement.lineno - old_lineno))
        else:
            changed.append(index)
    removed: list[Statement] = []
    for statement in old:
        if available[statement.text] > 0:
            available[statement.text] -= 1
            removed.append(statement)
    return changed, moved, removed


def body_statements(node: ast.ClassDef, source: ParsedSource) -> tuple[Statement, ...]:
    """The statements of a class body, analysed like top-level statements."""
    lines = source.text.splitlines(keepends=True)
    return tuple(_make_statement(member, lines) for member in node.body)


def header_key(node: ast.stmt) -> tuple[object, ...] | None:
    """Everything of a ``def`` or ``class`` except its body; None for other statements.

    Two definitions with the same key differ only in their body (docstring included), so the
    old object can take the new body without its decorators, base classes or metaclass
    running again. For a function the signature is part of the header: a decorator may have
    read it (``singledispatch``'s ``register``, a CLI or web framework).
    """
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        parts: tuple[list[ast.AST], ...] = (
            list(node.decorator_list),
            [node.args],
            [node.returns] if node.returns else [],
        )
        return (type(node).__name__, node.name, *_dumps(parts), _dumps_type_params(node))
    if isinstance(node, ast.ClassDef):
        return _header(node)
    return None


def _dumps(groups: tuple[list[ast.AST], ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(ast.dump(part) for part in group) for group in groups)


def _dumps_type_params(node: ast.stmt) -> tuple[str, ...]:
    return tuple(ast.dump(p) for p in getattr(node, "type_params", []))


def _definition_key(statement: Statement) -> tuple[str, str] | None:
    node = statement.node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (statement.kind, node.name)
    return None


def _counterpart(
    statement: Statement, statements: tuple[Statement, ...], removed: tuple[Statement, ...]
) -> Statement | None:
    key = _definition_key(statement)
    if key is None:
        return None
    olds = [s for s in removed if _definition_key(s) == key]
    news = [s for s in statements if _definition_key(s) == key]
    if len(olds) != 1 or len(news) != 1:
        return None
    return olds[0]


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _class_nodes(source: ParsedSource | None) -> dict[str, ast.ClassDef]:
    if source is None:
        return {}
    return {s.node.name: s.node for s in source.statements if isinstance(s.node, ast.ClassDef)}


def _member_changes(
    old: ast.ClassDef, new: ast.ClassDef, old_source: ParsedSource | None, new_source: ParsedSource
) -> tuple[list[str], list[str], list[str]] | None:
    """Class members updated, added and removed; None when the class header changed."""
    if old_source is None or _header(old) != _header(new):
        return None
    old_lines = old_source.text.splitlines(keepends=True)
    new_lines = new_source.text.splitlines(keepends=True)
    old_members = [_make_statement(n, old_lines) for n in old.body]
    new_members = [_make_statement(n, new_lines) for n in new.body]
    old_texts = Counter(m.text for m in old_members)
    new_texts = Counter(m.text for m in new_members)
    old_bound = {name for m in old_members for name in m.binds}
    new_bound = {name for m in new_members for name in m.binds}
    updated: list[str] = []
    added: list[str] = []
    for member in new_members:
        if old_texts[member.text] > 0:
            old_texts[member.text] -= 1
            continue
        for name in sorted(member.binds) or ["<body>"]:
            (updated if name in old_bound else added).append(name)
    removed = sorted(old_bound - new_bound)
    if not (updated or added or removed) and new_texts != Counter(m.text for m in old_members):
        updated.append("<body>")
    return _unique(updated), _unique(added), removed


def _header(node: ast.ClassDef) -> tuple[object, ...]:
    """Everything of a class statement except its body: decorators, bases, keywords."""
    groups = (node.decorator_list, node.bases, node.keywords, getattr(node, "type_params", []))
    # One tuple per role, so an expression moved from decorator to base is still a change.
    return (node.name, *(tuple(ast.dump(part) for part in group) for group in groups))


def _future_flags(tree: ast.Module) -> int:
    # Each statement is compiled on its own, so the module's `from __future__ import ...`
    # flags must be passed explicitly or, e.g., postponed annotations silently turn off.
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(__future__, alias.name, None)
                if isinstance(feature, __future__._Feature):
                    flags |= feature.compiler_flag
    return flags


def make_statement(node: ast.stmt, lines: list[str]) -> Statement:
    """Analyse one statement parsed from a file whose lines are ``lines``."""
    return _make_statement(node, lines)


def _make_statement(node: ast.stmt, lines: list[str]) -> Statement:
    decorators = getattr(node, "decorator_list", [])
    lineno = min([node.lineno, *(d.lineno for d in decorators)])
    end_lineno = node.end_lineno if node.end_lineno is not None else node.lineno
    # Statements that share a line (`a = 1; b = 2`) are cut at their columns; everything else
    # takes whole lines, so the text includes the decorators' `@`.
    if decorators:
        start_col = 0
    else:
        start_col = node.col_offset
    end_col = node.end_col_offset
    chunk = lines[lineno - 1 : end_lineno]
    if chunk:
        if end_col is not None:
            chunk[-1] = chunk[-1].encode("utf-8")[:end_col].decode("utf-8", "replace")
        chunk[0] = chunk[0].encode("utf-8")[start_col:].decode("utf-8", "replace")
    text = "".join(chunk)
    analysis = _NameAnalysis()
    analysis.visit_statement(node)
    return Statement(
        node=node,
        text=text,
        lineno=lineno,
        end_lineno=end_lineno,
        binds=frozenset(analysis.binds),
        reads=frozenset(analysis.reads),
        is_dynamic=analysis.is_dynamic,
        uses=frozenset(analysis.uses),
    )


def _reference_positions(node: ast.AST) -> set[int]:
    """Ids of the ``Name`` nodes in ``node`` whose object is only passed along, not used."""
    positions: list[ast.expr | None] = []
    stack: list[ast.AST] = [node]
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # The body runs later and is not analysed; only the header runs now.
            stack += [*child.decorator_list, child.args]
            stack += [child.returns] if child.returns is not None else []
            continue
        if isinstance(child, ast.Lambda):
            stack.append(child.args)
            continue
        if isinstance(child, ast.ClassDef):
            # A subclass looks its bases up when called, not when made: a base or metaclass
            # patched in place needs no new subclass. The body is analysed member by member.
            positions += [*child.bases, *(k.value for k in child.keywords)]
            stack += [*child.decorator_list, *child.bases, *(k.value for k in child.keywords)]
            continue
        if isinstance(child, ast.Call):
            positions += child.args
            positions += [k.value for k in child.keywords]
        elif isinstance(child, ast.Set) or (
            isinstance(child, (ast.List, ast.Tuple)) and isinstance(child.ctx, ast.Load)
        ):
            positions += child.elts
        elif isinstance(child, ast.Dict):
            positions += [*child.keys, *child.values]
        elif isinstance(child, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
            positions.append(child.value)
        elif isinstance(child, ast.IfExp):
            positions += [child.body, child.orelse]
        stack.extend(ast.iter_child_nodes(child))
    return {id(p) for p in positions if isinstance(p, ast.Name)}


class _NameAnalysis(ast.NodeVisitor):
    """Collect the module-level names one top-level statement binds and reads."""

    def __init__(self) -> None:
        self.binds: set[str] = set()
        self.reads: set[str] = set()
        self.uses: set[str] = set()
        self.is_dynamic = False
        self._references: set[int] = set()

    def visit_statement(self, node: ast.stmt) -> None:
        self._references = _reference_positions(node)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets: list[ast.expr]
            if isinstance(node, (ast.Assign, ast.Delete)):
                targets = list(node.targets)
            else:
                targets = [node.target]
            # `CONFIG["k"] = v` or `obj.attr = v` mutates an object another statement made:
            # re-running only this line cannot undo what its old version did.
            if any(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets):
                self.is_dynamic = True
            if isinstance(node, ast.AugAssign):
                self.is_dynamic = self.is_dynamic or not isinstance(node.target, ast.Name)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            # `REGISTRY.append(x)` / `logger.setLevel(...)`: a method call on a module-level
            # object is a mutation of state another statement owns.
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                self.is_dynamic = True
        self.visit(node)

    # --- binding forms -------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self.binds.add(node.id)
        elif isinstance(node.ctx, ast.Del):
            self.binds.add(node.id)
            self.reads.add(node.id)
            self.uses.add(node.id)
        else:
            self.reads.add(node.id)
            if id(node) not in self._references:
                self.uses.add(node.id)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.reads.add(node.target.id)
            self.uses.add(node.target.id)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.binds.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.is_dynamic = True
            else:
                self.binds.add(alias.asname or alias.name)

    def visit_Global(self, node: ast.Global) -> None:
        self.is_dynamic = True

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.is_dynamic = True

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in _DYNAMIC_CALLS:
            self.is_dynamic = True
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.binds.add(node.target.id)
        self.visit(node.value)

    # --- scopes: what runs now is visited, what runs later is not ---------------------------
    def _visit_function_header(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.binds.add(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._visit_arguments(node.args)
        # Annotations run at definition time unless `from __future__ import annotations`;
        # counting them as reads only ever makes a statement run more often, never less.
        if node.returns is not None:
            self.visit(node.returns)

    def _visit_arguments(self, args: ast.arguments) -> None:
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(default)
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None and arg.annotation is not None:
                self.visit(arg.annotation)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._visit_function_header(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._visit_function_header(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_arguments(node.args)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.binds.add(node.name)
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        # The class body runs now; names it assigns stay in the class namespace.
        body = _NameAnalysis()
        for statement in node.body:
            body.visit_statement(statement)
        self.reads |= body.reads
        self.uses |= body.uses
        self.is_dynamic = self.is_dynamic or any(
            isinstance(n, (ast.Global, ast.Nonlocal)) for n in ast.walk(node)
        )

    def _visit_comprehension(self, node: ast.expr) -> None:
        # Comprehension variables are local to the comprehension; only what it reads matters.
        inner = _NameAnalysis()
        inner.generic_visit(node)
        self.reads |= inner.reads - inner.binds
        self.uses |= inner.reads - inner.binds
        self.binds |= {n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr)}

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._visit_comprehension(node)

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self._visit_comprehension(node)

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._visit_comprehension(node)

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self._visit_comprehension(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.binds.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.binds.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.binds.add(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self.binds.add(node.rest)
        self.generic_visit(node)
