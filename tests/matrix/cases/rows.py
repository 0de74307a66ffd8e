"""The rows of issue 3 ("patching matrix"), in the issue's order; every one needs a case."""

from __future__ import annotations

FUNC_ATTRS = "Functions: body, defaults, keyword-only defaults, signature, docstring, annotations"
TYPE_PARAMS = "Functions: `__type_params__` (3.12+)"
FUNC_REFS = (
    "Functions seen through the module, `from m import f`, callback lists/dicts, "
    "`functools.partial`, bound methods taken before the edit"
)
GEN_ASYNC = "Generator and async functions"
CLOSURES = "Nested functions and closures, free variables added or removed"
WRAPS = "Decorated functions: `functools.wraps` wrappers run the new inner body"
LRU = "Decorated functions: `lru_cache`/`cache` return new results"
SINGLEDISPATCH = "Decorated functions: `singledispatch` registrations follow the edit"
LAMBDA = "Lambdas bound to module names"
TRACEBACKS = "Tracebacks and `inspect.getsource` point at the new file and line"
CLASS_IDENTITY = (
    "Classes updated in place: `isinstance`, `type(x) is m.Cls`, pickling and `deepcopy` of old "
    "instances"
)
METHODS = "Classes: methods, classmethods, staticmethods"
PROPERTIES = "Classes: properties (getter change, setter added)"
CLASS_ATTRS = "Classes: class attributes"
DUNDERS = "Classes: dunder methods"
NESTED = "Classes: nested classes"
CLASS_DECORATORS = "Classes: class decorators"
METACLASSES = "Classes: metaclasses"
INIT_SUBCLASS = "Classes: `__init_subclass__` side effects"
ABCS = "Classes: ABCs gaining or implementing abstract methods"
SUPER = "Classes: methods that gain or already use zero-argument `super()`"
SUBCLASSES = "Classes: subclasses in the same or another module see base-class changes"
DATACLASSES = "dataclasses: fields added with defaults (old instances still repr and compare)"
FROZEN = "Frozen dataclasses"
NAMEDTUPLE = "`typing.NamedTuple`"
ENUMS = "`enum.Enum`/`IntEnum`/`Flag`: new members, old members identical, methods update"
REPLACED = (
    "Class replaced (`__slots__`, bases or metaclass changed): instances moved, the report says "
    "which could not be and why"
)
FROM_IMPORTS = (
    "Names: `from m import NAME` rebound in the user namespace and other watched modules "
    "(constants included)"
)
REASSIGNED = "Names: a name the user has since reassigned is left alone"
NEW_DELETED = "Names: new names appear, deleted names disappear"
PACKAGES = "Modules: package `__init__` re-exporting from submodules"
RELATIVE = "Modules: relative imports"
NAMESPACE = "Modules: namespace packages"
CIRCULAR = "Modules: circular imports"
NEW_SIBLING = "Modules: a module starts importing a new sibling module"
NEW_MODULE = "Modules: a new module created after the extension loaded"
COOKIE = "Modules: a coding cookie"
NO_SOURCE = "Modules: file deleted, or no source: skipped with one message"
DC_FROZEN_SLOTS = "dataclasses with `frozen=True, slots=True`: a method edited, a field added"
ENUM_KINDS = "`Enum`/`IntEnum`/`Flag`: a member added (lookups, iteration, `~` of a flag)"
PROTOCOL = "`typing.Protocol` with `@runtime_checkable`: a member added, `isinstance` follows"
NT_TYPEDDICT = "`typing.NamedTuple` and `TypedDict`: a field added"
DISPATCH_UNDERSCORE = "`singledispatch` with every handler named `_`: a handler added, one edited"
LIST_REGISTRY = "A list registry filled by a `@register` decorator: a handler added, one removed"
STAR_IMPORT = "`from m import *` in the user namespace: a constant changed, a new function"
PYDANTIC = "pydantic v2 `BaseModel`: a field added, `model_validate` builds the live class"
ATTRS = "attrs `@define`: a field added, a method edited"
SKLEARN = 'scikit-learn transformer with `set_output(transform="pandas")`: `transform` edited'
PANDAS_ACCESSOR = "pandas `register_dataframe_accessor` accessor: a method edited"

ROWS: tuple[str, ...] = (
    FUNC_ATTRS,
    TYPE_PARAMS,
    FUNC_REFS,
    GEN_ASYNC,
    CLOSURES,
    WRAPS,
    LRU,
    SINGLEDISPATCH,
    LAMBDA,
    TRACEBACKS,
    CLASS_IDENTITY,
    METHODS,
    PROPERTIES,
    CLASS_ATTRS,
    DUNDERS,
    NESTED,
    CLASS_DECORATORS,
    METACLASSES,
    INIT_SUBCLASS,
    ABCS,
    SUPER,
    SUBCLASSES,
    DATACLASSES,
    FROZEN,
    NAMEDTUPLE,
    ENUMS,
    REPLACED,
    FROM_IMPORTS,
    REASSIGNED,
    NEW_DELETED,
    PACKAGES,
    RELATIVE,
    NAMESPACE,
    CIRCULAR,
    NEW_SIBLING,
    NEW_MODULE,
    COOKIE,
    NO_SOURCE,
    DC_FROZEN_SLOTS,
    ENUM_KINDS,
    PROTOCOL,
    NT_TYPEDDICT,
    DISPATCH_UNDERSCORE,
    LIST_REGISTRY,
    STAR_IMPORT,
    PYDANTIC,
    ATTRS,
    SKLEARN,
    PANDAS_ACCESSOR,
)
