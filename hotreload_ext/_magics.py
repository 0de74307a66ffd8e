"""The ``%hotreload`` magic."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from ._report import plural

if TYPE_CHECKING:
    # Only for annotations: the extension imports this module, not the other way round.
    from ._extension import Extension


def autoreload_is_on(shell: Any) -> bool:
    """Whether IPython's autoreload extension is loaded in ``shell`` and not turned off."""
    registry = getattr(getattr(shell, "magics_manager", None), "registry", {})
    magics = registry.get("AutoreloadMagics") if isinstance(registry, dict) else None
    if magics is None:
        return False
    reloader = getattr(magics, "_reloader", None)
    # `%autoreload 0` (and `off`) clears `enabled`; IPython 8 and 9 both keep it there.
    return bool(getattr(reloader, "enabled", True))


__all__ = ["HotReloadMagics"]

# The last row of `%hotreload timings`: finding new modules after the reload, the report, and
# the bookkeeping between stages.
_OTHER = "other (discovery, report)"

_USAGE = """\
%hotreload                      show status (same as `%hotreload status`)
%hotreload on | off             turn checking before every cell on or off
%hotreload now [MODULE ...]     check now; named modules reload even if unchanged
%hotreload watch [PATTERN ...]  add glob patterns of modules to watch (no pattern: list them)
%hotreload unwatch PATTERN ...  remove watch patterns
%hotreload exclude [PATTERN ...]
                                add glob patterns of modules never to reload (no pattern: list)
%hotreload unexclude PATTERN ...
                                remove exclude patterns
%hotreload verbosity quiet|normal|verbose
                                how much to report after each reload
%hotreload timings              where the time of the last reload went, and the idle cost
%hotreload dask auto | off      whether the session's Dask workers follow reloads
%hotreload cells on | off       update what a cell defined when a cell defines it again"""


@magics_class
class HotReloadMagics(Magics):
    """Magics of the hotreload extension."""

    def __init__(self, shell: Any, extension: Extension) -> None:
        super().__init__(shell)
        self.extension = extension

    @line_magic
    def hotreload(self, line: str) -> None:
        """Steer hotreload, which reloads your edited modules before every cell.

        %hotreload                      show status (same as %hotreload status)
        %hotreload on | off             turn checking before every cell on or off
        %hotreload now [MODULE ...]     check now; named modules reload even if unchanged
        %hotreload watch [PATTERN ...]  add glob patterns of modules to watch (no pattern: list)
        %hotreload unwatch PATTERN ...  remove watch patterns
        %hotreload exclude [PATTERN ...]
                                        add glob patterns of modules never to reload (no
                                        pattern: list them)
        %hotreload unexclude PATTERN ...
                                        remove exclude patterns
        %hotreload verbosity quiet|normal|verbose
                                        how much to report after each reload
        %hotreload timings              where the time of the last reload went, stage by
                                        stage, and what an idle cell costs
        %hotreload dask auto | off      whether the workers of the session's Dask client
                                        follow reloads (auto: when there is a client)
        %hotreload cells on | off       update a class or function a cell defined in place
                                        when a later cell defines it again (on by default)

        Patterns match dotted module names (mylib.*); a pattern containing a / matches the
        source file path instead. The same settings are traitlets: %config HotReload lists
        them, and c.HotReload.<name> = ... sets them in ipython_config.py.
        """
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%hotreload: {exc}\n\n{_USAGE}") from None
        command, args = (words[0].lower(), words[1:]) if words else ("status", [])
        command = command.removeprefix("--")
        handler = getattr(self, f"_do_{command}", None)
        if handler is None:
            raise UsageError(f"%hotreload: unknown command {command!r}\n\n{_USAGE}")
        handler(args)

    # --- commands ----------------------------------------------------------------------------
    def _do_status(self, args: list[str]) -> None:
        _no_arguments("status", args)
        print(self.status())

    def _do_timings(self, args: list[str]) -> None:
        _no_arguments("timings", args)
        print(self.timings())

    def _do_on(self, args: list[str]) -> None:
        _no_arguments("on", args)
        self.extension.settings.enabled = True
        print("hotreload: on; edited modules reload before every cell.")

    def _do_off(self, args: list[str]) -> None:
        _no_arguments("off", args)
        self.extension.settings.enabled = False
        print("hotreload: off; `%hotreload now` still reloads on demand.")

    def _do_now(self, args: list[str]) -> None:
        watched = self.extension.reloader.watched
        self.extension.reloader.discover()
        unknown = [name for name in args if name not in watched]
        excluded = self._excluded(unknown)
        if excluded:
            name, pattern = excluded[0]
            raise UsageError(
                f"%hotreload now: {name} is excluded (exclude pattern {pattern!r}): "
                f"`%hotreload unexclude {pattern}` to reload it again."
            )
        if unknown:
            raise UsageError(
                f"%hotreload now: not a watched module: {', '.join(unknown)}. Import it first, "
                "or add it with `%hotreload watch NAME`."
            )
        report = self.extension.run_check(force=args)
        if report is not None and not report and self.extension.settings.verbosity != "quiet":
            print(f"hotreload: no changes in {plural(report.checked, 'watched module')}.")

    def _do_watch(self, args: list[str]) -> None:
        self._edit_patterns("watch", args, add=True)

    def _do_unwatch(self, args: list[str]) -> None:
        self._edit_patterns("watch", args, add=False)

    def _do_exclude(self, args: list[str]) -> None:
        self._edit_patterns("exclude", args, add=True)

    def _do_unexclude(self, args: list[str]) -> None:
        self._edit_patterns("exclude", args, add=False)

    def _do_dask(self, args: list[str]) -> None:
        if len(args) != 1 or args[0].lower() not in ("auto", "off"):
            raise UsageError("%hotreload dask: give auto or off")
        self.extension.settings.dask = args[0].lower()
        if args[0].lower() == "off":
            print("hotreload: dask off; Dask workers no longer follow reloads.")
        else:
            print("hotreload: dask auto; the session's Dask workers follow reloads.")

    def _do_verbosity(self, args: list[str]) -> None:
        choices = ("quiet", "normal", "verbose")
        if len(args) != 1 or args[0].lower() not in choices:
            raise UsageError("%hotreload verbosity: give one of quiet, normal, verbose")
        self.extension.settings.verbosity = args[0].lower()
        print(f"hotreload: verbosity {args[0].lower()}")

    def _do_cells(self, args: list[str]) -> None:
        if len(args) != 1 or args[0].lower() not in ("on", "off"):
            raise UsageError("%hotreload cells: give on or off")
        on = args[0].lower() == "on"
        self.extension.settings.cells = on
        if on:
            print("hotreload: cells on; a cell defining a class or function again updates it.")
        else:
            print("hotreload: cells off; a cell defining a class again makes a new class.")

    # --- helpers -----------------------------------------------------------------------------
    def _excluded(self, names: list[str]) -> list[tuple[str, str]]:
        """``(module, pattern)`` for each imported module in ``names`` an exclude pattern hides."""
        found = []
        module_filter = self.extension.reloader.watcher.filter
        for name in names:
            module = sys.modules.get(name)
            if module is None:
                continue
            path = vars(module).get("__file__")
            pattern = module_filter.excluded_by(name, path if isinstance(path, str) else "")
            if pattern is not None:
                found.append((name, pattern))
        return found

    def _edit_patterns(self, trait: str, args: list[str], *, add: bool) -> None:
        settings = self.extension.settings
        current: list[str] = list(getattr(settings, trait))
        if not args:
            if not add:
                raise UsageError(f"%hotreload un{trait}: give at least one pattern")
            print(f"hotreload {trait} patterns: {', '.join(current) or '(none)'}")
            return
        if add:
            updated = current + [p for p in args if p not in current]
        else:
            missing = [p for p in args if p not in current]
            if missing:
                article = "an" if trait[0] in "aeiou" else "a"
                raise UsageError(
                    f"%hotreload un{trait}: not {article} {trait} pattern: {', '.join(missing)} "
                    f"(current: {', '.join(current) or 'none'})"
                )
            updated = [p for p in current if p not in args]
        setattr(settings, trait, updated)
        count = len(self.extension.reloader.watched)
        patterns = ", ".join(updated) or "(none)"
        print(f"hotreload {trait} patterns: {patterns}; watching {plural(count, 'module')}")

    def status(self) -> str:
        """The text of ``%hotreload status``."""
        extension = self.extension
        settings = extension.settings
        reloader = extension.reloader
        state = "on" if settings.enabled else "off"
        mode = "statement-level" if settings.selective else "whole-module"
        lines = [
            f"hotreload: {state}; {reloader.detection}; {mode} reloads; "
            f"verbosity {settings.verbosity}",
            f"  watching {plural(len(reloader.watched), 'module')} "
            f"({reloader.watcher.memory() / 1024:.1f} KiB kept); "
            f"{plural(reloader.reloads, 'reload')}, {plural(reloader.failures, 'failure')} so far",
        ]
        if not settings.cells:
            lines.append("  cells off: a cell defining a class again makes a new class")
        if autoreload_is_on(self.shell):
            lines.append(
                "  IPython's %autoreload is on as well and resets state hotreload keeps: "
                "`%autoreload 0` turns it off"
            )
        if reloader.data.stamps:
            lines.append(
                f"  following {plural(len(reloader.data.stamps), 'data file')} read at import"
            )
        elif not settings.data_files:
            lines.append("  data files read at import are not followed (HotReload.data_files)")
        if settings.watch:
            lines.append(f"  watch patterns: {', '.join(settings.watch)}")
        if settings.exclude:
            lines.append(f"  exclude patterns: {', '.join(settings.exclude)}")
        lines += extension.dask_status()
        if reloader.history:
            lines.append("  recent:")
            for entry in list(reloader.history)[-5:]:
                first = str(entry).splitlines()[0]
                lines.append(f"    {first}")
        return "\n".join(lines)

    def timings(self) -> str:
        """The text of ``%hotreload timings``."""
        reloader = self.extension.reloader
        idle = sorted(reloader.idle_seconds)
        count = plural(len(reloader.watched), "watched module")
        if idle:
            median = idle[len(idle) // 2] * 1000
            lines = [
                f"hotreload: an idle cell costs {median:.3f} ms "
                f"(median of the last {len(idle)}; {count})"
            ]
        else:
            lines = [f"hotreload: no idle cell timed yet ({count})"]
        last = reloader.last_timings
        if not last:
            lines.append("  no reload yet")
            return "\n".join(lines)
        total = last.get("total", 0.0)
        lines.append(f"  last reload: {total * 1000:.2f} ms")
        stages = {stage: seconds for stage, seconds in last.items() if stage != "total"}
        # The rows add up to the total: what no stage measured is named, not left out.
        stages[_OTHER] = max(0.0, total - sum(stages.values()))
        for stage, seconds in stages.items():
            share = f"{100 * seconds / total:.0f}%" if total else "-"
            lines.append(f"    {stage:<30} {seconds * 1000:8.3f} ms  {share:>4}")
        return "\n".join(lines)


def _no_arguments(command: str, args: list[str]) -> None:
    if args:
        raise UsageError(f"%hotreload {command} takes no arguments (got {' '.join(args)})")
