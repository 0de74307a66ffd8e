from hotreload_ext._tracking import TrackedModule

STAMP_SIZE: int

def unverified(modules: list[TrackedModule], /) -> list[int]: ...
