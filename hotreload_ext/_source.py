"""Stage 2 (parse): the source model, shared by every later stage.

A module's new text is decoded as the import system decodes it, parsed (the whole file, or only
the region an edit touched, see ``_region.py``) and split into its top-level
:class:`Statement` records, each with the module-level names it binds, reads and uses. The same
analysis serves class bodies. Import statements are resolved here too (:func:`imported_modules`
for the plan, :func:`from_imports` for rebinding), so later stages never parse again.

This module must never import IPython: the engine runs without it.
"""

from __future__ import annotations
import __future__

import ast
import importlib.util
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._digest import digest_bytes

__all__ = [
    "STAR",
    "ImportedNames",
    "ParsedSource",
    "Statement",
    "body_statements",
    "decode_source",
    "from_imports",
    "imported_modules",
    "parse_region",
    "parse_source",
    "resolve_import",
    "source_lines",
]

# Calls that read or write the module namespace behind the static analysis' back. A changed
# statement that makes one of them forces a full re-run of the module body.
_DYNAMIC_CALLS = frozenset({"exec", "eval", "globals", "vars", "locals", "__import__", "setattr"})

_FUTURE_LINE = re.compile(r"^from[ \t]+__future__[ \t]+import", re.MULTILINE)

# alias -> (module, name) for the `from module import name as alias` statements of a namespace;
# `from module import *` is recorded as STAR + module -> (module, "*") (no alias can start so).
ImportedNames = dict[str, tuple[str, str]]
STAR = "*"


def decode_source(data: bytes) -> str:
    """Decode source bytes the way the import system does (BOM and coding cookie honoured).

    Raises:
        SyntaxError: The bytes are not valid text in the declared encoding, or contain NUL.
    """
    if b"\0" in data:
        raise SyntaxError("source code cannot contain null bytes")
    try:
        return importlib.util.decode_source(data)
    except (UnicodeDecodeError, LookupError, SyntaxError) as exc:
        # tokenize reports undecodable bytes as "invalid or missing encoding declaration";
        # say plainly that the file is not text in its declared (or default UTF-8) encoding.
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise SyntaxError(f"cannot decode the source as text: {reason}") from exc


def source_lines(text: str) -> list[str]:
    r"""``text`` split into lines as the tokenizer numbers them, line ends kept.

    ``str.splitlines`` also splits at ``\v``, ``\f``, ``\x1c``-``\x1e``, ``\x85``,
    ``\u2028`` and ``\u2029``, which the tokenizer (and so every ``lineno``) does not count
    as line ends: after one of them, line ``n`` of ``splitlines`` is not the statement's line
    ``n``. ``StringIO`` with ``newline=""`` splits at ``\n``, ``\r\n`` and ``\r`` only,
    in C (about as fast as ``splitlines``), and keeps the text unchanged.
    """
    return io.StringIO(text, newline="").readlines()


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
    # The whole text's lines, numbered as the statements' line numbers count them
    # (:func:`source_lines`); shared so a reload splits a big file once per version.
    lines: tuple[str, ...] = field(repr=False, compare=False)
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


def parse_source(text: str, filename: str) -> ParsedSource:
    """Parse a whole module's source into statements.

    Raises:
        SyntaxError: The text does not parse; the error names ``filename`` and the line.
    """
    tree = ast.parse(text, filename=filename, type_comments=False)
    return _parsed(text, source_lines(text), filename, tree, future_flags(tree), region=None)


def parse_region(text: str, filename: str, start: int, end: int) -> ParsedSource | None:
    """Parse lines ``start``..``end`` of ``text`` as a partial source; None if they don't parse.

    The statements carry their real line numbers in the whole file.
    """
    lines = source_lines(text)
    chunk = "".join(lines[start - 1 : end])
    try:
        tree = ast.parse(chunk, filename=filename)
    except SyntaxError:
        # Maybe the edit opened a string or bracket that runs past the region: only a parse of
        # the whole file can say (and name the right line).
        return None
    ast.increment_lineno(tree, start - 1)
    flags = _head_flags(text) if start > 1 else future_flags(tree)
    if flags is None:
        return None
    return _parsed(text, lines, filename, tree, flags, region=(start, end))


def _parsed(
    text: str,
    lines: list[str],
    filename: str,
    tree: ast.Module,
    flags: int,
    region: tuple[int, int] | None,
) -> ParsedSource:
    """The one builder of :class:`ParsedSource`, for whole files and regions alike."""
    return ParsedSource(
        filename=filename,
        text=text,
        lines=tuple(lines),
        tree=tree,
        statements=tuple(_make_statement(node, lines) for node in tree.body),
        compile_flags=flags,
        digest=digest_bytes(text.encode("utf-8", "surrogatepass")),
        region=region,
    )


def body_statements(node: ast.ClassDef, source: ParsedSource) -> tuple[Statement, ...]:
    """The statements of a class body, analysed like top-level statements."""
    return tuple(_make_statement(member, source.lines) for member in node.body)


def future_flags(tree: ast.Module) -> int:
    """Compiler flags of the ``from __future__`` imports at the top of ``tree``."""
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


def _head_flags(text: str) -> int | None:
    """:func:`future_flags` of a file parsed only in part: its head holds every future import.

    A future import must come before any other statement, so the lines up to the last
    ``from __future__`` hold them all. None when that head does not parse on its own (the
    words appear inside a string further down): the caller then parses the whole file.
    """
    matches = list(_FUTURE_LINE.finditer(text)) if "__future__" in text else []
    if not matches:
        return 0
    line_end = text.find("\n", matches[-1].start())
    head = text if line_end < 0 else text[:line_end]
    try:
        return future_flags(ast.parse(head))
    except SyntaxError:
        return None


def _make_statement(node: ast.stmt, lines: Sequence[str]) -> Statement:
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
    chunk = list(lines[lineno - 1 : end_lineno])
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


def _runs_now(node: ast.stmt) -> list[ast.stmt]:
    """``node`` and the statements nested in it that run with it, at any depth.

    The bodies of ``for``, ``while``, ``if``, ``with``, ``try`` and ``match`` run now; those
    of ``def`` and ``class`` do not count: a function body runs when called, and a class body's
    statements bind in the class namespace (``visit_ClassDef`` keeps only its reads).
    """
    found: list[ast.stmt] = []
    stack: list[ast.stmt] = [node]
    while stack:
        statement = stack.pop()
        found.append(statement)
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for child in ast.iter_child_nodes(statement):
            if isinstance(child, ast.stmt):
                stack.append(child)
            elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
                stack += child.body
    return found


def _is_mutation(node: ast.stmt) -> bool:
    """Whether ``node`` changes an object through an item, an attribute or a method call."""
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        # `CONFIG["k"] = v`, `obj.attr = v` or `obj.n += 1` mutates an object another statement
        # made: re-running only this line cannot undo what its old version did.
        return any(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        # `REGISTRY.append(x)` / `logger.setLevel(...)`: a method call on a module-level
        # object is a mutation of state another statement owns.
        return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
    return False


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
        self.is_dynamic = self.is_dynamic or any(map(_is_mutation, _runs_now(node)))
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

    def _visit_comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
    ) -> None:
        # The outermost iterable is evaluated in the enclosing scope, before the comprehension's
        # own scope exists (language reference, "Displays for lists, sets and dictionaries"):
        # in `[x for x in x]` it reads the module's `x`.
        first, *rest = node.generators
        self.visit(first.iter)
        # Everything else runs in that scope, where the comprehension variables are local;
        # only what it reads from outside matters.
        inner = _NameAnalysis()
        parts: list[ast.AST] = [first.target, *first.ifs, *rest]
        parts += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        for part in parts:
            inner.visit(part)
        self.reads |= inner.reads - inner.binds
        self.uses |= inner.reads - inner.binds
        self.is_dynamic = self.is_dynamic or inner.is_dynamic
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


# --- imports ------------------------------------------------------------------------------------
def resolve_import(module: str | None, level: int, package: str) -> str | None:
    """The absolute module name of ``from <level dots><module> import ...`` inside ``package``.

    None where the import system raises ImportError: ``level`` dots name ``package`` and
    ``level - 1`` of its parents, so ``level`` may not exceed the number of its parts
    (``importlib._bootstrap._resolve_name``, "attempted relative import beyond top-level
    package"), and a top-level module (``package`` empty) has no relative imports at all
    ("attempted relative import with no known parent package").
    """
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level > len(parts):
        return None
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base


def _package_of(module_name: str, is_package: bool) -> str:
    return module_name if is_package else module_name.rpartition(".")[0]


def imported_modules(source: ParsedSource, module_name: str, *, is_package: bool) -> set[str]:
    """Absolute names of the modules ``source`` imports when it runs.

    Imports inside function bodies run later and are ignored; those inside ``if``, ``try``
    and class bodies count. ``from pkg import sub`` may import the submodule ``pkg.sub``.
    """
    package = _package_of(module_name, is_package)
    found: set[str] = set()
    for node in _import_nodes(source.tree, skip_classes=False):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found |= _with_parents(alias.name)
            continue
        base = resolve_import(node.module, node.level, package)
        if base is not None:
            found |= _with_parents(base)
            found |= {f"{base}.{a.name}" for a in node.names if a.name != "*"}
    found.discard(module_name)
    return found


def from_imports(
    tree: ast.AST, module_name: str = "", *, is_package: bool = False
) -> ImportedNames:
    """The ``from X import Y as Z`` bindings made in a namespace, resolved to modules.

    Star imports are included as ``STAR + X``. Imports in function and class bodies bind names
    elsewhere and are left out.
    """
    package = _package_of(module_name, is_package)
    found: ImportedNames = {}
    for node in _import_nodes(tree, skip_classes=True):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = resolve_import(node.module, node.level, package)
        if base is None:
            continue
        for alias in node.names:
            if alias.name == "*":
                found[STAR + base] = (base, "*")
            else:
                found[alias.asname or alias.name] = (base, alias.name)
    return found


def _import_nodes(tree: ast.AST, *, skip_classes: bool) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run with ``tree``'s namespace, outside function bodies."""
    skipped: tuple[type[ast.AST], ...] = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    if skip_classes:
        skipped += (ast.ClassDef,)
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, skipped):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _with_parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[: i + 1]) for i in range(len(parts))}
