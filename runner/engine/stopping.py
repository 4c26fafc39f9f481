"""Graceful stop: the first Ctrl-C (SIGTERM, SIGHUP) stops sending; a second exits at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator

from loguru import logger

from runner.std_streams import terminal_gone
from runner.stop_signals import STOP_SIGNALS

EXIT_INTERRUPTED = 130

# Called, newest first, just before a forced exit: the run marks itself interrupted and
# says how to resume, which the normal ending would have done.
_force_hooks: list[Callable[[], None]] = []


@contextlib.contextmanager
def before_forced_exit(hook: Callable[[], None]) -> Iterator[None]:
    """Run ``hook`` if a second Ctrl-C ends the process while this block is running."""
    _force_hooks.append(hook)
    try:
        yield
    finally:
        _force_hooks.remove(hook)


class GracefulStop:
    """Installs signal handlers on the running loop for the length of a run.

    Args:
        request_stop: asks the engine to stop sending.
        timeout_s: how long requests in flight may take before the run is cut short.
        on_force: called before a forced exit (flush what must be flushed).
    """

    def __init__(
        self,
        request_stop: Callable[[], None],
        timeout_s: float,
        on_force: Callable[[], None] = lambda: None,
    ) -> None:
        self._request_stop = request_stop
        self._timeout_s = timeout_s
        self._on_force = on_force
        self.signals = 0
        self._task: asyncio.Task[object] | None = None
        self._installed: list[signal.Signals] = []
        # The handlers before the run's (runner.cli's SIGTERM one), put back afterwards.
        self._previous: dict[signal.Signals, object] = {}

    def install(self, task: asyncio.Task[object]) -> None:
        """Watch the stop signals while ``task`` (the run) goes on."""
        self._task = task
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) == signal.SIG_IGN:
                continue  # ignored by who started us (nohup: SIGHUP): it stays so
            try:
                self._previous[sig] = signal.getsignal(sig)
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or no signals here: Ctrl-C ends the run as usual

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
            previous = self._previous.get(sig)
            if callable(previous) or isinstance(previous, int):
                signal.signal(sig, previous)
        self._installed.clear()

    @property
    def stopped(self) -> bool:
        return self.signals > 0

    def _on_signal(self, sig: signal.Signals) -> None:
        if sig == getattr(signal, "SIGHUP", None):
            terminal_gone()  # what follows goes to run.log; the terminal would fail the run
        self.signals += 1
        if self.signals == 1:
            logger.warning(
                "{}: stopping. No new requests; waiting up to {:.0f} s for those in flight. "
                "Press Ctrl-C again to exit at once (nothing written is lost).",
                sig.name,
                self._timeout_s,
            )
            self._request_stop()
            asyncio.get_running_loop().call_later(self._timeout_s, self._cut_short)
            return
        logger.warning("{} again: exiting now.", sig.name)
        self._on_force()
        for hook in reversed(_force_hooks):
            try:
                hook()
            except Exception as exc:
                logger.error("While exiting: {}", exc)
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    def _cut_short(self) -> None:
        if self._task is not None and not self._task.done():
            logger.warning(
                "Requests still in flight after {:.0f} s: not waiting longer.", self._timeout_s
            )
            self._task.cancel()
