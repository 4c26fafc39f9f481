"""The error hierarchy: every error runner raises derives from :class:`RunnerError`.

``exit_code`` is what the command line exits with when the error ends a run:

* :class:`BadInputError` (2): the user's files or settings are wrong; nothing was sent.
* :class:`ConfigError` (2): a setting has a wrong value (a limit of 0, an unknown api).
* :class:`RunnerError` (1): anything else that stops a run.

Provider failures for one prompt are not exceptions that end the run: providers raise
:class:`ProviderError`, the engine records them on that prompt and decides whether to retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class RunnerError(Exception):
    """Base class of every error raised by runner."""

    exit_code: int = 1


# Problems an error lists one by one; the rest are counted in one line.
SHOWN_PROBLEMS = 100


class BadInputError(RunnerError):
    """The experiment file or a record in it is invalid; nothing was sent."""

    exit_code = 2

    def __init__(
        self, message: str, problems: Sequence[str] = (), total: int | None = None
    ) -> None:
        self.problems = list(problems)
        self.total = max(total or 0, len(self.problems))
        if self.problems:
            shown = self.problems[:SHOWN_PROBLEMS]
            more = self.total - len(shown)
            lines = [message, *(f"  - {p}" for p in shown)]
            if more:
                lines.append(f"  ... and {more} more problem(s)")
            message = "\n".join(lines)
        super().__init__(message)


class ConfigError(RunnerError):
    """A setting has a value runner cannot use; nothing was sent."""

    exit_code = 2


class ErrorKind(StrEnum):
    """How the engine must treat a failed request; decided by the provider."""

    RETRYABLE = "retryable"  # timeouts, dropped connections, 408, 429, 5xx
    FATAL = "fatal"  # malformed request, 400, 401, 404: retrying cannot fix it
    QUOTA = "quota"  # a hard quota: no more requests will succeed on this key
    BUDGET = "budget"  # not sent: it could take the run over max_cost_usd (a resume sends it)


@dataclass
class ProviderError(RunnerError):
    """A request failed; ``kind`` tells the engine whether to retry.

    Args:
        message: what went wrong, as the API said it.
        kind: how the engine must treat the failure.
        status: the HTTP status, when there was one.
        retry_after: seconds the API asked us to wait before trying again.
        quota_spent: the API said the key's rate-limit window is used up (a remaining count
            of 0 in its rate-limit headers), not a passing 429.
        limit_per_minute: the key's request limit, when the API's headers state it.
        prompt_only: the refusal concerns something this prompt names (a file the API does
            not hold), not the key or the model: no other prompt is stopped by it.
    """

    message: str
    kind: ErrorKind = ErrorKind.FATAL
    status: int | None = None
    retry_after: float | None = None
    quota_spent: bool = False
    # The key's request limit per minute, when the API states it in its headers.
    limit_per_minute: float | None = None
    prompt_only: bool = False
    # A conversation that failed after its first turn: the turns answered before (a
    # Completion), which the API billed (runner.cost prices them on the line).
    billed: Any = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class DiskFullError(RunnerError):
    """A file of the run could not be written (the disk is full, or refuses writes).

    Exit status 1: the input was fine; what was written before is intact, and a resume on
    a disk with room finishes the run.
    """

    exit_code = 1
