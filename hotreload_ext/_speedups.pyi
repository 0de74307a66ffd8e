from collections.abc import Callable
from typing import Any

from hotreload_ext._tracking import TrackedModule

STAMP_SIZE: int

def unverified(modules: list[TrackedModule], /) -> list[int]: ...
def install_open_hook(recorder: Callable[[tuple[Any, ...]], object], /) -> None: ...
def listen_open(on: bool, /) -> None: ...
