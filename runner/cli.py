"""What every command line shares: ``--help`` and exit statuses.

Every entry point (``runner``, ``runner.check``, ``runner.evaluate`` ...) runs its work
through :func:`main` (a Hydra job through :func:`guarded`), so each maps a failure to its
exit status the same way: a :class:`RunnerError` to its own status with one line saying
what to do, a config Hydra or OmegaConf cannot compose to 2, Ctrl-C to 130, and anything
unexpected to 1 with one line on the terminal and the traceback in a log file; a reader
that leaves early (``| head``) is no failure (runner.std_streams). Entry points
import from here, never from one another's ``__main__``.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import gc
import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from loguru import logger

from runner import logs, redaction
from runner.commands import python_command
from runner.errors import ConfigError, RunnerError
from runner.paths import runner_cache_home
from runner.std_streams import reader_left, reader_may_leave, streams_in_place
from runner.stop_signals import terminate_as_interrupt
from runner.visible import visible

INTERRUPTED = 130
UNEXPECTED = 1


class ArgumentParser(argparse.ArgumentParser):
    """argparse for the commands that take flags, taking settings the run's way too.

    A run takes ``outputs_dir=X``; ``runner.query`` takes ``--outputs-dir X``. Every command
    takes both: ``key=value`` is read as ``--key=value`` when the command has that flag
    (``rebuild=true`` as ``--rebuild``), and as the argument ``key`` names
    (``runner.cache explain run_id=R prompt_id=P``). A ``key=value`` it does not know is
    left as it is, so argparse says so, naming the flag it may have meant.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        words = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(self._as_flags(words), namespace)

    def _as_flags(self, words: list[str]) -> list[str]:
        """``words`` with each ``key=value`` this parser knows spelled as its flag."""
        flags: list[str] = []
        rest: list[str] = []
        named: dict[str, str] = {}
        for index, word in enumerate(words):
            if word == "--":
                rest += words[index:]
                break
            key, equals, value = word.removeprefix("+").partition("=")
            if not equals or not _KEY.fullmatch(key):
                rest.append(word)
                continue
            action = self._option_string_actions.get("--" + key.replace("_", "-"))
            positional = self._positional(key)
            if action is not None:
                flags += _flag_words(action, value, word)
            elif positional is not None and positional not in named:
                named[positional] = value
            else:
                rest.append(word)
        # Flags first: a flag of the command itself stays before its subcommand's name.
        at = self._subcommand_at(rest)
        positionals = [named[n] for n in self._positional_names() if n in named]
        return [*flags, *rest[:at], *positionals, *rest[at:]]

    def _positional_names(self) -> list[str]:
        """The arguments given by position, in order (not a subcommand's name)."""
        actions = self._actions
        return [a.dest for a in actions if not a.option_strings and a.nargs != argparse.PARSER]

    def _positional(self, key: str) -> str | None:
        return key if key in self._positional_names() else None

    def _subcommand_at(self, words: list[str]) -> int:
        """Where a subcommand's name is in ``words`` (their end when there is none)."""
        for action in self._actions:
            if action.nargs == argparse.PARSER and action.choices:  # add_subparsers()'s
                for index, word in enumerate(words):
                    if word in action.choices:
                        return index
        return len(words)

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            hints = [self._flag_for(word) for word in message[len(prefix) :].split()]
            message += "".join(f" ({hint})" for hint in hints if hint)
        super().error(message)

    def _flag_for(self, word: str) -> str | None:
        key, equals, value = word.lstrip("+~").partition("=")
        flag = "--" + key.replace("_", "-")
        if not equals:
            return None
        if flag in self._option_string_actions:
            return f"this command takes {flag} {value or 'VALUE'}"
        flags = [f for f in self._option_string_actions if f.startswith("--") and f != "--help"]
        close = difflib.get_close_matches(flag, flags, n=1)
        return f"did you mean {close[0].lstrip('-').replace('-', '_')}=?" if close else None


# A setting's name as typed: outputs_dir, cache-dir (an SQL text never matches).
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def _flag_words(action: argparse.Action, value: str, word: str) -> list[str]:
    """``--flag=value`` for ``key=value``; for an on/off flag, ``--flag`` or nothing."""
    flag = max(action.option_strings, key=len)
    if action.nargs != 0:
        return [f"{flag}={value}"]
    if value.lower() in ("true", "yes", "on", "1"):
        return [flag]
    if value.lower() in ("false", "no", "off", "0"):
        return []
    raise ConfigError(f"{word}: {flag} is on or off; give true or false")


@dataclass(frozen=True)
class Command:
    """An entry point as its ``--help`` shows it.

    ``usage`` empty: the command parses its own flags (argparse prints its ``--help``).
    """

    name: str  # "runner.check"
    usage: str = ""  # "experiment=NAME [key=value ...]"
    doc: str | None = None  # the module's docstring: the help page's body
    log_level: str = "INFO"


def main(
    command: Command, entry: Callable[[list[str]], int], argv: Sequence[str] | None = None
) -> int:
    """Run ``entry`` on the command line's arguments; its exit status, or the failure's.

    Args:
        command: the entry point's name, usage and help page.
        entry: the work, given the arguments (``sys.argv[1:]`` unless ``argv``).
        argv: the arguments, for tests.
    """
    global _own_process
    _own_process = argv is None  # a command of its own, not a call from a test or a notebook
    if _own_process:
        streams_in_place()  # started with 2>&- or >&-: every line would fail
        terminate_as_interrupt()
    try:
        logs.configure(command.log_level)
        args = list(sys.argv[1:] if argv is None else argv)
        if command.usage and any(a in ("-h", "--help") for a in args):
            with reader_may_leave():
                print(command_help(command.name, command.usage, command.doc))
            return 0
    except KeyboardInterrupt:
        return guarded(raise_interrupt, command.name)
    return guarded(lambda: entry(args), command.name)


def raise_interrupt() -> int:
    raise KeyboardInterrupt


def guarded(call: Callable[[], int], name: str, *, interrupted: str = "") -> int:
    """``call()``'s exit status, or the status of what it raised (said in one line)."""
    try:
        return call()
    except RunnerError as exc:
        say_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        logger.warning("{}", interrupted or "Interrupted")
        return INTERRUPTED
    except BrokenPipeError:  # the reader of the output left (``| head``): not a failure
        reader_left()
        return 0
    except Exception as exc:
        problem = config_problem(exc)
        if problem is not None:
            say_error(problem)
            return problem.exit_code
        return _unexpected(exc, name)


def say_error(exc: BaseException | str) -> None:
    """The one line the user sees for a failure (key values masked)."""
    with contextlib.suppress(BrokenPipeError):  # no one reads stderr any more: nothing to do
        # A file name or value holding ESC is shown as \u001b, not acted on by the terminal.
        sys.stderr.write(visible(redaction.scrub(f"error: {exc}")) + "\n")
        sys.stderr.flush()


def _crash_log(name: str) -> Path:
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return runner_cache_home() / "errors" / f"{name}-{when}-{os.getpid()}.log"


def _unexpected(exc: Exception, name: str) -> int:
    """A bug, not bad input: one line here, the (masked) traceback in a log file."""
    text = redaction.scrub("".join(traceback.format_exception(exc)))
    logger.debug("{}", text)  # into the run's log file, when one is open
    path = _crash_log(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        where = f"the traceback is in {path}"
    except OSError:
        where = "no traceback could be written"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    say_error(f"unexpected {type(exc).__name__}: {first} ({where}; please report it)")
    return UNEXPECTED


def config_problem(exc: BaseException) -> ConfigError | None:
    """The config error a failure to compose stands for (Hydra's, OmegaConf's), else None.

    Hydra reports a misspelled key or an unknown config option with its own exceptions: to
    the user that is bad input (exit 2), said in one line with its cause.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(exc, HydraException | OmegaConfBaseException):
        return None
    cause = f": {_one_line(exc.__cause__)}" if exc.__cause__ else ""
    return ConfigError(f"the configuration is invalid: {_one_line(exc)}{cause}")


def _one_line(exc: BaseException) -> str:
    """Hydra's message in one line: its search path left out, its option lists joined."""
    return " ".join(str(exc).split("Config search path:")[0].split())


_own_process = False


def started_up() -> None:
    """Start-up is over (modules imported, config composed): keep its objects out of the GC.

    They live until the process ends. Frozen (``gc.freeze``), the collector no longer walks
    them at every full collection while prompts are sent, and the interpreter's exit no
    longer collects them one by one: that alone took 0.2-0.3 s of every command. Only for
    a command of its own: a test or a notebook calling :func:`main` keeps its collector;
    and once (the later jobs of a sweep in this process free their objects as they go).
    """
    global _own_process
    if _own_process:
        _own_process = False
        gc.freeze()


def command_help(command: str, usage: str, doc: str | None) -> str:
    """The ``--help`` page of a subcommand (``runner.check`` ...): usage, then its docstring."""
    py = python_command()
    first, _, rest = inspect.cleandoc(doc or "").partition("\n")
    title = first.rpartition("``:")[2].strip()
    about = f"{title[:1].upper()}{title[1:]}\n\n{rest.strip()}".strip().replace("``", "")
    return (
        f"usage: {py} -m {command} {usage}\n\n{about}\n\n"
        "Settings are the same key=value overrides as a run's;\n"
        f"{py} -m runner --help lists every one with its default.\n"
    )
