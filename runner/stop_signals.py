"""Signals that stop a command as Ctrl-C does: SIGTERM (a kill), SIGHUP (a closed terminal).

While a run sends, :mod:`runner.engine.stopping` handles them (and Ctrl-C) gracefully; before
and after that, the handlers here turn them into ``KeyboardInterrupt``, which every command
reports in one line with exit status 130.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterable, Iterator
from types import FrameType

from runner.std_streams import terminal_gone

# What stops a run gracefully: Ctrl-C, a kill, and the terminal closing (SIGHUP, where the
# platform has it), whose requests in flight are billed whether or not we wait for them.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _hung_up(_signum: int, _frame: object) -> None:
    terminal_gone()  # the one line the stop says would fail on a terminal that is gone
    raise KeyboardInterrupt


def terminate_as_interrupt() -> None:
    """SIGTERM and SIGHUP stop a command as Ctrl-C does (exit 130, one line), at any moment.

    A run installs its own graceful handlers while it sends (runner.engine.stopping) and
    puts these back after; without them, a SIGTERM before the run folder existed (or after
    sending, while the report is written) killed the process with no word, and a closed
    terminal (SIGHUP) left ``run.json`` saying "running". A signal ignored by who started
    the command (``nohup``) stays ignored.
    """
    handlers = {"SIGTERM": _interrupt, "SIGHUP": _hung_up}
    for name, handler in handlers.items():
        sig = getattr(signal, name, None)
        if sig is None or signal.getsignal(sig) == signal.SIG_IGN:
            continue
        with contextlib.suppress(ValueError):  # not the main thread: left as it is
            signal.signal(sig, handler)


@contextlib.contextmanager
def handled(
    signals: Iterable[int], handler: Callable[[int, FrameType | None], None]
) -> Iterator[None]:
    """Inside the block ``handler`` takes these signals; their handlers are put back after.

    A signal ignored by who started us (nohup's SIGHUP) stays ignored. Off the main thread,
    where Python takes no handler, the block runs with the handlers as they are.
    """
    chosen = [sig for sig in signals if signal.getsignal(sig) != signal.SIG_IGN]
    previous = {sig: signal.getsignal(sig) for sig in chosen}
    try:
        for sig in chosen:
            signal.signal(sig, handler)
    except ValueError:  # not the main thread: left as it is
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
