"""The traitlets configuration: ``c.HotReload.*``, ``--HotReload.*=...``, ``%config HotReload``.

The configuration reference in the docs is generated from this class, so the help strings here
are the user documentation.
"""

from __future__ import annotations

from traitlets import Bool, CaselessStrEnum, List, Unicode
from traitlets.config import Configurable

__all__ = ["HotReload"]


class HotReload(Configurable):
    """Settings of the hotreload extension.

    Set them in ``ipython_config.py`` (``c.HotReload.verbosity = "verbose"``), on the command line
    (``ipython --HotReload.verbosity=verbose``) or in a running session
    (``%config HotReload.verbosity = "verbose"``).
    """

    enabled = Bool(
        True,
        help="""Check for edited modules before every cell. ``%hotreload off`` sets this to
        False; ``%hotreload now`` still works while it is off.""",
    ).tag(config=True)

    verbosity = CaselessStrEnum(
        ["quiet", "normal", "verbose"],
        default_value="normal",
        help="""How much to say after a check. ``quiet``: only failures. ``normal``: one line
        per reloaded module and one notice per unreadable file. ``verbose``: also the statements
        that ran again, the reload mode and timings.""",
    ).tag(config=True)

    report_to = CaselessStrEnum(
        ["screen", "logging"],
        default_value="screen",
        help="""Where reports go. ``screen``: in the cell's output (a notebook shows a reload as
        one compact block with the names in a collapsed list, a failure as one error with
        IPython's traceback; a terminal prints one line). The ``logging`` logger named
        ``"hotreload"`` receives them too but does not pass them on to the root logger, so
        ``logging.basicConfig()`` never shows a report twice. ``logging``: only to that
        logger, which then passes them on like any other (failures at ``ERROR``, notices at
        ``WARNING``, reloads at ``INFO``).""",
    ).tag(config=True)

    watch = List(
        Unicode(),
        default_value=[],
        help="""Glob patterns of extra modules to watch, such as an installed package you are
        editing: ``["mylib", "mylib.*"]``. A pattern containing ``/`` is matched against the
        source file path instead of the module name. By default only modules outside the
        standard library and site-packages are watched.""",
    ).tag(config=True)

    exclude = List(
        Unicode(),
        default_value=[],
        help="""Glob patterns of modules (or, with ``/``, file paths) never to reload. Wins over
        ``watch``.""",
    ).tag(config=True)

    selective = Bool(
        True,
        help="""Re-run only the top-level statements an edit affects, keeping module state
        (caches, loaded data) that did not change. False re-runs the whole module body on
        every change; functions and classes are still patched in place either way.""",
    ).tag(config=True)

    data_files = Bool(
        True,
        help="""Follow the data files a module's body reads when it is imported (a JSON or YAML
        config, a CSV, ``importlib.resources``, ``Path.read_text``): when one changes, the
        statements that read it, and those that depend on them, run again, and the report names
        the file (``reloaded m (data file config.json changed)``). Reads are seen through the
        ``open`` audit event while a module body runs, for modules imported after the extension
        was loaded. False stops following them.""",
    ).tag(config=True)

    detection = CaselessStrEnum(
        ["poll", "notify"],
        default_value="poll",
        help="""How edited files are found before each cell. ``poll``: one ``stat`` per watched
        file. ``notify``: the operating system reports the changes, and each cell only drains
        them, whatever the number of modules. On Linux that is the kernel's inotify queue, read
        when the cell starts, so a save completed before the cell is never missed; on macOS and
        Windows a background thread collects them (needs the ``watchfiles`` package), and a
        save within about 40 ms of a cell may be seen by the next one. Polling is used whenever
        notification is unavailable or not yet running (``%hotreload status`` says which is in
        effect).""",
    ).tag(config=True)

    dask = CaselessStrEnum(
        ["auto", "off"],
        default_value="auto",
        help="""Whether the workers of the session's Dask client follow the kernel's reloads.
        ``auto``: when the session has a client (``distributed.default_client()``, or one a
        name in the user's namespace holds), every
        reload that commits in the kernel is applied on each of its workers too, from the source
        the kernel runs, and workers that join later get it before their first task (see the
        Dask page of the docs). ``off``: workers are left alone (``%hotreload dask off``).
        Nothing of Dask is imported unless the session already uses it.""",
    ).tag(config=True)

    cells = Bool(
        True,
        help="""Update in place what a cell defined when a later cell (or ``%run -i``) defines
        a class or function of the same name again: old instances, references and subclasses
        follow the new code, as after a "Restart & Run All". ``%hotreload cells off`` sets this
        to False; Python then makes a second class or function, as usual.""",
    ).tag(config=True)

    strict = Bool(
        False,
        help="""Re-raise hotreload's own internal errors instead of reporting them. For the
        test suite and for debugging hotreload; leave it off in real sessions.""",
    ).tag(config=True)
