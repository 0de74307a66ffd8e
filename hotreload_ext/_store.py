"""Where the running source of each watched module is kept: compressed, outside the heap.

Detection needs the text each module's running code came from, to diff the next edit against,
and its hash, to tell a real edit from a ``touch``. Both are read only when that module's file
changes, which for most modules is never, so they are kept in an anonymous temporary file (in
``TMPDIR``, unlinked as soon as it is created) rather than in the kernel's memory: a session with
5,000 watched modules would otherwise hold several megabytes of compressed source for nothing.

Each version is appended once and found again by a key (its offset and length). Versions that
were replaced are garbage; the file is rewritten without them once they outweigh the live ones.
If the temporary file cannot be created or written (no space, a read-only ``TMPDIR``), the store
keeps the same bytes in memory instead and says why in :attr:`SourceStore.fallback`.

This module must never import IPython.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import weakref
import zlib
from collections.abc import Iterable

__all__ = ["NO_SOURCE", "SourceStore"]

# The key of "nothing stored": a module whose running source is unknown.
NO_SOURCE = -1

_DIGEST_SIZE = 16
# Appends are buffered up to this size, so that importing thousands of modules costs a few
# writes, not one each.
_FLUSH_AT = 64 * 1024
# Garbage is collected once it is at least this large and larger than the live data.
_COMPACT_AT = 4 * 1024 * 1024
_LENGTH_BITS = 32


class SourceStore:
    """Compressed sources and their hashes, by key, in a temporary file.

    Args:
        directory: Where to create the file; the default temporary directory if None.
    """

    def __init__(self, directory: str | None = None) -> None:
        self._directory = directory
        self._handle: int | None = None
        self._memory: bytearray | None = None
        self._pending = bytearray()
        self._size = 0  # bytes in the file (or in memory), not counting _pending
        self._live = 0
        self._garbage = 0
        self._pid = os.getpid()
        #: Bumped by each compaction, which reuses the offsets (and so the keys) of old versions.
        self.generation = 0
        #: Why the sources are kept in memory instead of a file (None while the file works).
        self.fallback: str | None = None
        self._finalizer = weakref.finalize(self, _close, [self._handle])

    # --- storing ----------------------------------------------------------------------------
    def put(self, data: bytes, digest: bytes) -> int:
        """Store one version; return its key."""
        key = self._append(digest + _compress(data))
        if len(self._pending) >= _FLUSH_AT:
            self.flush()
        return key

    def release(self, key: int) -> None:
        """The version under ``key`` is no longer needed."""
        if key != NO_SOURCE:
            _, length = _split(key)
            self._live -= length
            self._garbage += length

    def flush(self) -> None:
        """Write buffered versions out (a no-op when nothing is buffered)."""
        if not self._pending:
            return
        if self._memory is None:
            try:
                self._write(bytes(self._pending))
            except OSError as exc:
                self._fall_back(f"cannot write a temporary file ({exc.strerror or exc})")
        if self._memory is not None:
            self._memory += self._pending
        self._size += len(self._pending)
        self._pending = bytearray()

    @property
    def wants_compaction(self) -> bool:
        """Whether replaced versions take more room than the live ones (and enough to matter)."""
        return self._garbage >= _COMPACT_AT and self._garbage > self._live

    def compact(self, keys: Iterable[int]) -> dict[int, int]:
        """Rewrite the store with only ``keys`` (every live one); return old key -> new key."""
        live = [key for key in keys if key != NO_SOURCE]
        blobs = [(key, self._blob(key)) for key in live]
        self.generation += 1
        self._close_file()
        self._memory = bytearray() if self._memory is not None else None
        self._pending = bytearray()
        self._size = self._live = self._garbage = 0
        moved = {key: NO_SOURCE if blob is None else self._append(blob) for key, blob in blobs}
        self.flush()
        return moved

    # --- reading ----------------------------------------------------------------------------
    def source(self, key: int) -> bytes | None:
        """The source stored under ``key``; None if there is none or it cannot be read."""
        blob = self._blob(key)
        if blob is None:
            return None
        try:
            return zlib.decompress(blob[_DIGEST_SIZE:])
        except zlib.error:
            return None

    def digest(self, key: int) -> bytes:
        """The hash stored with ``key``; empty when nothing is stored or it cannot be read."""
        blob = self._blob(key, _DIGEST_SIZE)
        return b"" if blob is None else blob

    def memory(self) -> int:
        """Bytes this store keeps in the process's memory."""
        return len(self._pending) + (len(self._memory) if self._memory is not None else 0)

    def close(self) -> None:
        """Delete the temporary file (its space is freed when the last handle closes)."""
        self._close_file()

    # --- internals ----------------------------------------------------------------------------
    def _append(self, blob: bytes) -> int:
        """Buffer ``blob`` at the end of the store; its key is its offset and length."""
        key = ((self._size + len(self._pending)) << _LENGTH_BITS) | len(blob)
        self._pending += blob
        self._live += len(blob)
        return key

    def _blob(self, key: int, limit: int | None = None) -> bytes | None:
        if key == NO_SOURCE:
            return None
        offset, length = _split(key)
        if limit is not None:
            length = min(length, limit)
        if offset >= self._size:
            start = offset - self._size
            blob = bytes(self._pending[start : start + length])
        elif self._memory is not None:
            blob = bytes(self._memory[offset : offset + length])
        elif self._handle is not None:
            try:
                blob = _read_at(self._handle, offset, length)
            except OSError:
                return None
        else:
            return None
        return blob if len(blob) == length else None

    def _write(self, data: bytes) -> None:
        if self._handle is not None and self._pid != os.getpid():
            # A forked child shares the parent's file and would append over the parent's own
            # appends: it takes a private copy first (reads of older keys stay valid).
            self._copy_file()
        if self._handle is None:
            self._handle = _anonymous_file(self._directory)
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _close, [self._handle])
            self._pid = os.getpid()
        offset = self._size
        view = memoryview(data)
        while view:
            written = os.pwrite(self._handle, view, offset)
            view, offset = view[written:], offset + written

    def _copy_file(self) -> None:
        assert self._handle is not None
        data = _read_at(self._handle, 0, self._size)
        self._handle = None  # the parent's: left open for the parent, not closed here
        self._size = 0
        self._write(data)
        self._size = len(data)

    def _fall_back(self, reason: str) -> None:
        memory = bytearray()
        if self._handle is not None:
            try:
                memory += _read_at(self._handle, 0, self._size)
            except OSError:
                memory = bytearray(self._size)  # unreadable: those versions read as unknown
        self._close_file()
        self._memory = memory
        self.fallback = reason

    def _close_file(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._finalizer.detach()
            _close([handle])


def _split(key: int) -> tuple[int, int]:
    """A key's (offset, length)."""
    return key >> _LENGTH_BITS, key & ((1 << _LENGTH_BITS) - 1)


def _compress(data: bytes) -> bytes:
    # A 4 KiB window and a small hash table: the compressor's state is about 32 KiB instead of
    # 256 KiB, so compressing thousands of sources at import leaves no high-water mark in the
    # process's heap. Source compresses almost as well; zlib.decompress reads the window size
    # from the stream's header.
    compressor = zlib.compressobj(1, zlib.DEFLATED, 12, 4)
    return compressor.compress(data) + compressor.flush()


def _anonymous_file(directory: str | None) -> int:
    # TemporaryFile() is unlinked at once (O_TMPFILE where available): nothing is left behind,
    # even when the kernel is killed.
    with tempfile.TemporaryFile(prefix="hotreload-", dir=directory) as handle:
        return os.dup(handle.fileno())


def _read_at(handle: int, offset: int, length: int) -> bytes:
    parts: list[bytes] = []
    while length > 0:
        part = os.pread(handle, length, offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
        length -= len(part)
    return b"".join(parts)


def _close(handles: list[int | None]) -> None:
    for handle in handles:
        if handle is not None:
            with contextlib.suppress(OSError):
                os.close(handle)
