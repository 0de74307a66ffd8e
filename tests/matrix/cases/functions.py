"""Cases for functions: attributes, references, generators, closures, decorators, tracebacks."""

from __future__ import annotations

from tests.matrix.case import case
from tests.matrix.cases import rows

CASES = (
    case(
        "function-body",
        rows.FUNC_ATTRS,
        [
            {"mx": "def area(r):\n    return 3 * r * r\n"},
            {"mx": "def area(r):\n    return 4 * r * r\n"},
        ],
        hold="""
            import mx
            from mx import area
            old_area = mx.area
        """,
        checks=[
            """
            assert mx.area(1) == 3
            assert area(1) == 3
            assert old_area(1) == 3
            assert area is mx.area
            """,
            """
            assert mx.area(1) == 4
            assert area(1) == 4
            assert old_area(1) == 4
            assert area is mx.area
            """,
        ],
    ),
    case(
        "function-signature",
        rows.FUNC_ATTRS,
        [
            {
                "mx": '''
                def greet(name, punct="!", *, loud=False) -> str:
                    """Say hello."""
                    text = f"hello {name}{punct}"
                    return text.upper() if loud else text
                '''
            },
            {
                "mx": '''
                def greet(name, greeting="hi", punct="?", *, loud=True, times: int = 2) -> list:
                    """Say hi, several times."""
                    text = f"{greeting} {name}{punct}"
                    return [text.upper() if loud else text] * times
                '''
            },
        ],
        hold="""
            import inspect
            import mx
            from mx import greet
            old_greet = mx.greet
        """,
        checks=[
            """
            for f in (mx.greet, greet, old_greet):
                assert f("bo") == "hello bo!"
                assert f("bo", loud=True) == "HELLO BO!"
                assert f.__doc__ == "Say hello."
                assert f.__defaults__ == ("!",)
                assert f.__kwdefaults__ == {"loud": False}
                assert str(inspect.signature(f)) == "(name, punct='!', *, loud=False) -> str"
                assert f.__annotations__ == {"return": str}
            """,
            """
            for f in (mx.greet, greet, old_greet):
                assert f("bo") == ["HI BO?", "HI BO?"]
                assert f("bo", "yo", loud=False, times=1) == ["yo bo?"]
                assert f.__doc__ == "Say hi, several times."
                assert f.__defaults__ == ("hi", "?")
                assert f.__kwdefaults__ == {"loud": True, "times": 2}
                sig = "(name, greeting='hi', punct='?', *, loud=True, times: int = 2) -> list"
                assert str(inspect.signature(f)) == sig
                assert f.__annotations__ == {"times": int, "return": list}
            """,
        ],
    ),
    case(
        "function-type-params",
        rows.TYPE_PARAMS,
        [
            {"mx": "def first[T](xs: list[T]) -> T:\n    return xs[0]\n"},
            {
                "mx": """
                def first[T, D](xs: list[T], default: D = None) -> T | D:
                    return xs[0] if xs else default
                """
            },
        ],
        hold="""
            import mx
            from mx import first
            old_first = mx.first
        """,
        checks=[
            """
            for f in (mx.first, first, old_first):
                assert [p.__name__ for p in f.__type_params__] == ["T"]
                assert f([5]) == 5
            """,
            """
            for f in (mx.first, first, old_first):
                assert [p.__name__ for p in f.__type_params__] == ["T", "D"]
                assert f([], "none") == "none"
            """,
        ],
        min_python=(3, 12),
    ),
    case(
        "function-references",
        rows.FUNC_REFS,
        [
            {
                "mx": """
                def scale(x, k):
                    return x * k

                class Box:
                    def size(self):
                        return 1
                """
            },
            {
                "mx": """
                def scale(x, k):
                    return x * k + 100

                class Box:
                    def size(self):
                        return 2
                """
            },
        ],
        hold="""
            import functools
            import mx
            from mx import scale
            callbacks = [mx.scale]
            registry = {"scale": mx.scale}
            double = functools.partial(mx.scale, k=2)
            box = mx.Box()
            size = box.size
        """,
        checks=[
            """
            assert mx.scale(2, 3) == 6
            assert scale(2, 3) == 6
            assert callbacks[0](2, 3) == 6
            assert registry["scale"](2, 3) == 6
            assert double(5) == 10
            assert size() == 1
            """,
            """
            assert mx.scale(2, 3) == 106
            assert scale(2, 3) == 106
            assert callbacks[0](2, 3) == 106
            assert registry["scale"](2, 3) == 106
            assert double(5) == 110
            assert size() == 2
            """,
        ],
    ),
    case(
        "module-level-partial",
        rows.FUNC_REFS,
        [
            {
                "mx": """
                import functools

                def scale(x, k):
                    return x * k

                double = functools.partial(scale, k=2)
                HANDLERS = {"double": double}
                """
            },
            {
                "mx": """
                import functools

                def scale(x, k):
                    return x * k

                double = functools.partial(scale, k=3)
                HANDLERS = {"double": double}
                """
            },
        ],
        hold="""
            import mx
            from mx import double
            held = [mx.double]
        """,
        checks=[
            """
            assert mx.double(5) == 10
            assert double(5) == 10
            assert held[0](5) == 10
            assert mx.HANDLERS["double"](5) == 10
            """,
            """
            assert mx.double(5) == 15
            assert double(5) == 15
            assert held[0](5) == 15
            assert mx.HANDLERS["double"](5) == 15
            """,
        ],
        note="The partial object itself changed; old references to it are stale unless patched.",
    ),
    case(
        "generator-async",
        rows.GEN_ASYNC,
        [
            {
                "mx": """
                def count(n):
                    for i in range(n):
                        yield i

                async def fetch(x):
                    return x + 1
                """
            },
            {
                "mx": """
                def count(n):
                    for i in range(n):
                        yield i * 10

                async def fetch(x):
                    return x + 2
                """
            },
        ],
        hold="""
            import mx
            from mx import count, fetch
            old_count, old_fetch = mx.count, mx.fetch

            def run(coro):
                try:
                    coro.send(None)
                except StopIteration as stop:
                    return stop.value
                raise AssertionError("the coroutine suspended")
        """,
        checks=[
            """
            assert list(count(3)) == [0, 1, 2]
            assert list(old_count(3)) == [0, 1, 2]
            assert run(fetch(1)) == 2
            assert run(old_fetch(1)) == 2
            """,
            """
            assert list(count(3)) == [0, 10, 20]
            assert list(old_count(3)) == [0, 10, 20]
            assert run(fetch(1)) == 3
            assert run(old_fetch(1)) == 3
            """,
        ],
    ),
    case(
        "closures",
        rows.CLOSURES,
        [
            {
                "mx": """
                def make_scaler():
                    def scale(x):
                        return x
                    return scale

                scale = make_scaler()

                def outer():
                    def inner():
                        return "inner v1"
                    return inner()
                """
            },
            {
                "mx": """
                def make_scaler():
                    factor = 3
                    def scale(x):
                        return x * factor
                    return scale

                scale = make_scaler()

                def outer():
                    suffix = "v2"
                    def inner():
                        return "inner " + suffix
                    return inner()
                """
            },
        ],
        hold="""
            import mx
            from mx import scale, outer
            old_scale, old_make = mx.scale, mx.make_scaler
        """,
        checks=[
            """
            assert scale(2) == 2
            assert old_scale(2) == 2
            assert mx.scale(2) == 2
            assert old_make()(2) == 2
            assert outer() == "inner v1"
            """,
            """
            assert scale(2) == 6
            assert old_scale(2) == 6
            assert mx.scale(2) == 6
            assert old_make()(2) == 6
            assert outer() == "inner v2"
            """,
        ],
        note="`scale` gains a free variable (`factor`) and loses it on the way back.",
    ),
    case(
        "wraps-decorator",
        rows.WRAPS,
        [
            {
                "mx": """
                import functools

                def logged(fn):
                    @functools.wraps(fn)
                    def wrapper(*args, **kwargs):
                        return ("logged", fn(*args, **kwargs))
                    return wrapper

                @logged
                def work(x):
                    return x + 1
                """
            },
            {
                "mx": """
                import functools

                def logged(fn):
                    @functools.wraps(fn)
                    def wrapper(*args, **kwargs):
                        return ("logged", fn(*args, **kwargs))
                    return wrapper

                @logged
                def work(x):
                    return x + 2
                """
            },
            {
                "mx": """
                import functools

                def logged(fn):
                    @functools.wraps(fn)
                    def wrapper(*args, **kwargs):
                        return ("LOGGED", fn(*args, **kwargs))
                    return wrapper

                @logged
                def work(x):
                    return x + 2
                """
            },
        ],
        hold="""
            import inspect
            import mx
            from mx import work
            old_work = mx.work
        """,
        checks=[
            """
            assert work(1) == ("logged", 2)
            assert old_work(1) == ("logged", 2)
            assert "x + 1" in inspect.getsource(old_work)
            """,
            """
            assert work(1) == ("logged", 3)
            assert old_work(1) == ("logged", 3)
            assert mx.work(1) == ("logged", 3)
            assert "x + 2" in inspect.getsource(old_work)
            """,
            """
            assert work(1) == ("LOGGED", 3)
            assert old_work(1) == ("LOGGED", 3)
            assert mx.work(1) == ("LOGGED", 3)
            """,
        ],
        steps=(1, 2, 0),
        note="v2 edits the decorated body, v3 the decorator itself.",
    ),
    case(
        "decorator-registers-once",
        rows.WRAPS,
        [
            {
                "mx": """
                REGISTRY = []

                def register(fn):
                    REGISTRY.append(fn.__name__)
                    return fn

                @register
                def task():
                    return "task v1"
                """
            },
            {
                "mx": """
                REGISTRY = []

                def register(fn):
                    REGISTRY.append(fn.__name__)
                    return fn

                @register
                def task():
                    return "task v2"
                """
            },
        ],
        hold="""
            import mx
            from mx import task
        """,
        checks=[
            """
            assert task() == "task v1"
            assert mx.REGISTRY == ["task"]
            """,
            """
            assert task() == "task v2"
            assert mx.REGISTRY == ["task"], mx.REGISTRY
            """,
        ],
        note="A body-only edit must not run the decorator's side effect again.",
    ),
    case(
        "lru-cache",
        rows.LRU,
        [
            {
                "mx": """
                import functools

                @functools.lru_cache(maxsize=None)
                def square(x):
                    return x * x

                @functools.cache
                def cube(x):
                    return x ** 3
                """
            },
            {
                "mx": """
                import functools

                @functools.lru_cache(maxsize=None)
                def square(x):
                    return x * x + 1

                @functools.cache
                def cube(x):
                    return x ** 3 + 1
                """
            },
        ],
        hold="""
            import mx
            from mx import square, cube
            old_square = mx.square
            square(3), cube(2)
        """,
        checks=[
            """
            assert square(3) == 9
            assert cube(2) == 8
            assert old_square is mx.square
            """,
            """
            assert square(3) == 10
            assert old_square(3) == 10
            assert cube(2) == 9
            assert mx.cube(2) == 9
            assert old_square is mx.square
            """,
        ],
    ),
    case(
        "singledispatch",
        rows.SINGLEDISPATCH,
        [
            {
                "mx": """
                import functools

                @functools.singledispatch
                def show(x):
                    return "object"

                @show.register
                def _(x: int):
                    return "int"
                """
            },
            {
                "mx": """
                import functools

                @functools.singledispatch
                def show(x):
                    return "object"

                @show.register
                def _(x: int):
                    return "INT"

                @show.register
                def _(x: str):
                    return "str"
                """
            },
        ],
        hold="""
            import mx
            from mx import show
            old_show = mx.show
        """,
        checks=[
            """
            for f in (show, old_show, mx.show):
                assert f(1) == "int"
                assert f("a") == "object"
                assert f(1.5) == "object"
            """,
            """
            for f in (show, old_show, mx.show):
                assert f(1) == "INT"
                assert f("a") == "str"
                assert f(1.5) == "object"
            """,
        ],
        note="v2 changes one registration and adds one; going back removes it again.",
    ),
    case(
        "singledispatch-on-own-class",
        rows.SINGLEDISPATCH,
        [
            {
                "mx": """
                import functools

                class Cat:
                    def name(self):
                        return "cat"

                @functools.singledispatch
                def speak(x):
                    return "?"

                @speak.register
                def _(x: Cat):
                    return "meow"

                DEFAULT_NAME = str("tom")
                """
            },
            {
                "mx": """
                import functools

                class Cat:
                    def name(self):
                        return "cat"

                    def purr(self):
                        return "purr"

                @functools.singledispatch
                def speak(x):
                    return "?"

                @speak.register
                def _(x: Cat):
                    return "MEOW"

                DEFAULT_NAME = str("felix")
                """
            },
        ],
        hold="""
            import mx
            from mx import speak
            cat = mx.Cat()
        """,
        checks=[
            """
            assert speak(cat) == "meow"
            assert mx.speak(mx.Cat()) == "meow"
            """,
            """
            assert speak(cat) == "MEOW"
            assert mx.speak(cat) == "MEOW"
            assert mx.speak(mx.Cat()) == "MEOW"
            assert cat.purr() == "purr"
            """,
        ],
        note=(
            "The registry is keyed by the class (ipython#13258); a non-literal module-level edit "
            "makes autoreload re-run the whole module."
        ),
    ),
    case(
        "lambda",
        rows.LAMBDA,
        [
            {"mx": "double = lambda x: x * 2\n"},
            {"mx": "double = lambda x: x * 3\n"},
        ],
        hold="""
            import mx
            from mx import double
            old_double = mx.double
            callbacks = [mx.double]
        """,
        checks=[
            """
            assert double(2) == 4
            assert old_double(2) == 4
            assert callbacks[0](2) == 4
            """,
            """
            assert mx.double(2) == 6
            assert double(2) == 6
            assert old_double(2) == 6
            assert callbacks[0](2) == 6
            """,
        ],
    ),
    case(
        "traceback-lines",
        rows.TRACEBACKS,
        [
            {
                "mx": """
                def helper():
                    return 1

                def boom():
                    raise ValueError("boom")  # <- boom

                def moved():
                    raise KeyError("moved")  # <- moved
                """
            },
            {
                "mx": """
                import os

                def helper():
                    \"\"\"Now documented.\"\"\"
                    value = 1
                    return value

                def boom():
                    x = os.sep
                    raise ValueError(f"boom {x}")  # <- boom

                def moved():
                    raise KeyError("moved")  # <- moved
                """
            },
        ],
        hold="""
            import inspect
            import traceback
            import mx
            from mx import boom, moved
            old_boom = mx.boom

            def last_frame(fn):
                try:
                    fn()
                except Exception as exc:
                    return traceback.extract_tb(exc.__traceback__)[-1]
                raise AssertionError("no exception")
        """,
        checks=[
            """
            frame = last_frame(old_boom)
            assert frame.filename == mx.__file__
            assert frame.lineno == matrix.line("mx", "<- boom"), frame.lineno
            assert frame.line.strip() == 'raise ValueError("boom")  # <- boom'
            assert last_frame(moved).lineno == matrix.line("mx", "<- moved")
            assert 'raise ValueError("boom")' in inspect.getsource(old_boom)
            """,
            """
            frame = last_frame(old_boom)
            assert frame.filename == mx.__file__
            assert frame.lineno == matrix.line("mx", "<- boom"), frame.lineno
            assert frame.line.strip() == 'raise ValueError(f"boom {x}")  # <- boom'
            assert last_frame(moved).lineno == matrix.line("mx", "<- moved")
            assert "x = os.sep" in inspect.getsource(old_boom)
            assert inspect.getsource(moved).startswith("def moved():")
            """,
        ],
        note="`moved` did not change but moved down four lines.",
    ),
)
