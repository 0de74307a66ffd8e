"""Drive a real terminal IPython (``python -m IPython --simple-prompt``) one cell at a time.

:class:`TerminalSession` starts IPython with its stdin and stdout on pipes, sends a cell, and
reads until IPython shows its next ``In [N]:`` prompt, which is how a person at the terminal
knows the cell finished. Nothing here waits on the clock: every read has a deadline, and the
deadline only turns a hung IPython into an error.

:func:`save` stands in for the editor: it writes a file and moves its mtime forward by one second,
so a change is never hidden by a coarse filesystem timestamp, however fast the next cell runs.
"""

from __future__ import annotations

import codecs
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager

__all__ = ["CellOutput", "SessionError", "TerminalSession", "save", "session_env"]

# IPython writes "\nIn [N]: " (its separator, then the prompt) and then blocks reading stdin.
# The prompt is recognised only at the very end of what was read so far, at the start of a line.
_PROMPT = re.compile(r"(?:\A|\n)In \[(\d+)\]: \Z")
# Continuation prompts ("   ...: ") IPython shows while it reads the later lines of a cell.
_CONTINUATION = re.compile(r"\A(?:[ ]*\.\.\.: )+")

_SECOND_NS = 1_000_000_000


class SessionError(RuntimeError):
    """IPython exited, hung, or did something the driver cannot follow."""


@dataclass(frozen=True)
class CellOutput:
    """What one cell printed.

    Attributes:
        number: The cell's execution number (the ``N`` of its ``In [N]:`` prompt).
        cell: The source that was sent.
        stdout: Its standard output (with stderr mixed in, when the session merges them),
            without the prompts; ``Out[N]:`` lines and tracebacks are here.
        stderr: Its standard error when the session keeps the streams apart, else ``""``.
    """

    number: int
    cell: str
    stdout: str
    stderr: str = ""

    @property
    def value(self) -> str | None:
        """The cell's result as IPython showed it (the text after ``Out[N]:``), if any."""
        prefix = f"Out[{self.number}]: "
        for index, line in enumerate(self.stdout.split("\n")):
            if line.startswith(prefix):
                rest = self.stdout.split("\n")[index:]
                rest[0] = line[len(prefix) :]
                return "\n".join(rest)
        return None

    @property
    def text(self) -> str:
        """Everything the cell printed: standard error, then standard output."""
        return "\n".join(part for part in (self.stderr, self.stdout) if part)


def session_env(
    ipython_dir: str | os.PathLike[str],
    pythonpath: Iterable[str | os.PathLike[str]] = (),
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """An environment for an isolated IPython: its own profile dir, no user start-up files.

    Args:
        ipython_dir: A fresh directory for ``IPYTHONDIR``, so the user's profile never leaks in.
        pythonpath: Directories to put first on the child's ``sys.path``.
        base: The environment to start from, ``os.environ`` by default.
    """
    env = dict(os.environ if base is None else base)
    for name in ("PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "VIRTUAL_ENV", "PYTHONBREAKPOINT"):
        # VIRTUAL_ENV pointing at another environment makes IPython warn at start-up.
        env.pop(name, None)
    env["IPYTHONDIR"] = os.fspath(ipython_dir)
    paths = [os.fspath(p) for p in pythonpath]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env["TERM"] = "dumb"
    env["NO_COLOR"] = "1"
    return env


def save(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` as an editor would, then move its mtime one second forward.

    The new mtime is one second past both the file's previous mtime and the write's own, so
    every save has a strictly newer timestamp, without waiting for the clock to move.
    """
    target = Path(path)
    try:
        previous = target.stat().st_mtime_ns
    except FileNotFoundError:
        previous = 0
    target.write_text(text, encoding="utf-8")
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, max(st.st_mtime_ns, previous) + _SECOND_NS))


class TerminalSession:
    """A real terminal IPython in a subprocess, driven one cell at a time.

    Use it as a context manager; leaving the block ends the process::

        with TerminalSession(cwd=tmp, env=session_env(tmp / "ipython")) as ipython:
            ipython.run("%load_ext hotreload")
            print(ipython.run("1 + 1").stdout)  # "Out[2]: 2"

    Args:
        cwd: The directory IPython runs in.
        env: Its environment (see :func:`session_env`); ``PYTHONUNBUFFERED`` is always set so
            output arrives in the order it was printed.
        args: Extra command-line arguments, such as ``--HotReload.strict=True``.
        timeout: Seconds one cell may take before :class:`SessionError` is raised.
        startup_timeout: Seconds IPython may take to show its first prompt.
        merge_stderr: Send the child's stderr into the same pipe as stdout, so
            :attr:`CellOutput.stdout` shows both in the exact order printed (as a terminal
            would). Otherwise stderr is collected apart in :attr:`CellOutput.stderr`.
    """

    def __init__(
        self,
        *,
        cwd: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        timeout: float = 60.0,
        startup_timeout: float = 120.0,
        merge_stderr: bool = False,
    ) -> None:
        self.cwd = os.fspath(cwd)
        self.env = dict(os.environ if env is None else env)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.command = [
            sys.executable,
            "-m",
            "IPython",
            "--simple-prompt",
            "--no-banner",
            "--colors=NoColor",
            "--no-confirm-exit",
            # Keep the history database in memory: nothing is written to the profile and no
            # history-saving thread runs next to the cells.
            "--HistoryManager.hist_file=:memory:",
            *args,
        ]
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self.merge_stderr = merge_stderr
        self.startup_output = ""
        self.execution_count = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._decoders = {
            "stdout": codecs.getincrementaldecoder("utf-8")(errors="replace"),
            "stderr": codecs.getincrementaldecoder("utf-8")(errors="replace"),
        }
        self._transcript: list[str] = []
        self._checker = TransformerManager()

    # --- life cycle --------------------------------------------------------------------------
    def start(self) -> str:
        """Start IPython and wait for its first prompt; return what it printed before it."""
        if self._process is not None:
            raise SessionError("the session is already started")
        self._process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if self.merge_stderr else subprocess.PIPE,
        )
        out, err, number = self._read_until_prompt(self.startup_timeout, "the first prompt")
        self.execution_count = number
        self.startup_output = "\n".join(part for part in (err.strip(), out.strip()) if part)
        return self.startup_output

    def close(self, timeout: float = 30.0) -> int:
        """Ask IPython to exit (killing it if it does not) and return its exit status."""
        process = self._process
        if process is None:
            return 0
        try:
            if process.poll() is None:
                try:
                    self._write("exit\n")
                    process.wait(timeout)
                except (OSError, SessionError, subprocess.TimeoutExpired):
                    process.kill()
                    process.wait()
        finally:
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        return process.returncode

    def __enter__(self) -> TerminalSession:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def transcript(self) -> str:
        """Everything IPython printed so far, prompts included (for failure messages)."""
        return "".join(self._transcript)

    # --- running cells -----------------------------------------------------------------------
    def run(self, cell: str, timeout: float | None = None) -> CellOutput:
        """Send one cell, wait for the next prompt, and return what the cell printed.

        A multi-line cell must be one cell to IPython, as when typed at the prompt: a compound
        statement (``def``, ``for``, ...) is finished with a blank line for you, but a run of
        complete simple statements on separate lines would be split into several cells, so it
        is refused (join them with ``;`` instead).
        """
        if self._process is None:
            raise SessionError("start the session first")
        # IPython's simple prompt reads lines while check_complete() calls them "incomplete";
        # mirror it, so the driver knows exactly where IPython will see the cell end.
        lines = cell.rstrip("\n").split("\n")
        for end in range(1, len(lines)):
            if self._status(lines[:end]) != "incomplete":
                raise ValueError(
                    f"IPython would run line {end} of this cell on its own; join the "
                    f"statements with ';' or wrap them in a block:\n{cell}"
                )
        if self._status(lines) == "incomplete":
            lines.append("")  # the blank line that ends a block at the prompt
            if self._status(lines) == "incomplete":
                raise ValueError(f"IPython would wait for more lines after this cell:\n{cell}")
        text = "\n".join(lines) + "\n"
        number = self.execution_count
        self._write(text)
        out, err, self.execution_count = self._read_until_prompt(
            self.timeout if timeout is None else timeout, f"the end of cell In [{number}]"
        )
        out = _CONTINUATION.sub("", out)
        return CellOutput(number=number, cell=cell, stdout=out.strip("\n"), stderr=err.strip("\n"))

    def _status(self, lines: list[str]) -> str:
        status, _ = self._checker.check_complete("\n".join(lines))
        return str(status)

    # --- pipes -------------------------------------------------------------------------------
    def _write(self, text: str) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(text.encode("utf-8"))
            self._process.stdin.flush()
        except BrokenPipeError:
            raise SessionError(self._describe("IPython exited before reading the cell")) from None

    def _read_until_prompt(self, timeout: float, waiting_for: str) -> tuple[str, str, int]:
        """Read both pipes until stdout ends with a prompt; return (stdout, stderr, number)."""
        process = self._process
        assert process is not None
        assert process.stdout is not None
        streams = {process.stdout.fileno(): "stdout"}
        if process.stderr is not None:
            streams[process.stderr.fileno()] = "stderr"
        chunks: dict[str, list[str]] = {"stdout": [], "stderr": []}
        deadline = time.monotonic() + timeout
        seen = ""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SessionError(
                    self._describe(f"no prompt after {timeout:g} s while waiting for {waiting_for}")
                )
            ready, _, _ = select.select(list(streams), [], [], remaining)
            got_stdout = False
            for fd in ready:
                name = streams[fd]
                if not self._read_into(fd, name, chunks):
                    del streams[fd]
                    if name == "stdout":
                        self._drain(streams, chunks)
                        try:
                            process.wait(timeout)
                        except subprocess.TimeoutExpired:
                            process.kill()
                            process.wait()
                        raise SessionError(
                            self._describe(f"IPython exited while waiting for {waiting_for}")
                        )
                got_stdout = got_stdout or name == "stdout"
            if not got_stdout:
                continue
            seen = "".join(chunks["stdout"])
            match = _PROMPT.search(seen)
            if match is not None:
                break
        # Whatever the cell wrote to stderr was written before the prompt, so it is already
        # waiting in the pipe: take it without blocking.
        self._drain(streams, chunks)
        stdout = seen[: match.start()]
        return stdout, "".join(chunks["stderr"]), int(match.group(1))

    def _read_into(self, fd: int, name: str, chunks: dict[str, list[str]]) -> bool:
        data = os.read(fd, 65536)
        final = not data
        text = self._decoders[name].decode(data, final)
        if text:
            chunks[name].append(text)
            self._transcript.append(text)
        return not final

    def _drain(self, streams: dict[int, str], chunks: dict[str, list[str]]) -> None:
        for fd, name in list(streams.items()):
            if name == "stdout":
                continue
            while select.select([fd], [], [], 0)[0]:
                if not self._read_into(fd, name, chunks):
                    del streams[fd]
                    break

    def _describe(self, problem: str) -> str:
        process = self._process
        status = None if process is None else process.poll()
        tail = self.transcript[-4000:]
        return f"{problem} (exit status {status}); IPython printed:\n{tail}"
