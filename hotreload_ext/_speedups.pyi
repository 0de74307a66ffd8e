from hotreload_ext._detect import TrackedModule

STAMP_SIZE: int

def unverified(modules: list[TrackedModule], /) -> list[int]: ...
