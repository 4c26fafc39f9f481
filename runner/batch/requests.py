"""What the batch adapters share: one prompt as one request, per-item errors as online ones."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from loguru import logger

from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers.http import Classifier
from runner.providers.messages import Message, is_turn_list


def single_request(record: PromptRecord) -> list[Message]:
    """The messages of a prompt that is one request: a string (or a one-turn list), or chat
    messages.

    Raises:
        ProviderError: (fatal) a multi-turn prompt: each turn needs the model's previous
            reply, which a batch cannot give.
    """
    prompt = record.prompt
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if is_turn_list(prompt) and len(prompt) == 1:  # one turn: one request
        return [{"role": "user", "content": prompt[0]}]
    if is_turn_list(prompt):
        raise ProviderError(
            f"prompt {record.key!r} ({record.where}) is a multi-turn conversation: each turn "
            "needs the model's previous reply, so it cannot go in a batch; send it with "
            "mode=online",
            ErrorKind.FATAL,
        )
    return [dict(m) for m in prompt]


def classified(classify: Classifier, status: int, body: Any, raw: str) -> ProviderError:
    """A per-item error of a batch, classified by the online classifier of its API."""
    return classify(status, body, raw, _NO_HEADERS)


def retry_later(why: str) -> ProviderError:
    """A retryable item error: the request never ran (its batch was cancelled or expired)."""
    return ProviderError(f"{why}: it goes in the next batch", ErrorKind.RETRYABLE)


_NO_HEADERS: Mapping[str, str] = {}


# What reading a result of an unexpected shape raises (a str where an object was due, ...).
SHAPE_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError)
_LOOSE_ID = re.compile(r'"custom_id"\s*:\s*"([^"\\]{1,200})"')


def bad_line(why: str, line: Any) -> ProviderError:
    """A result line that cannot be read: that prompt alone is recorded as this error.

    Fatal, not retried: the provider ran (and may have billed) the request.
    """
    return ProviderError(
        f"the batch's result for this prompt is not of the documented shape ({why}): "
        f"{str(line)[:200]!r}; recorded as an error",
        ErrorKind.FATAL,
    )


def loose_custom_id(line: str) -> str | None:
    """The ``custom_id`` a line that is not JSON still names, if it does."""
    found = _LOOSE_ID.search(line)
    return found.group(1) if found else None


def skipped(line: Any) -> None:
    """A result line that names no prompt: nothing to record it against (its prompt, if any,
    is one with no result, sent again)."""
    logger.warning("batch mode: a result line names no prompt, skipped: {!r:.200}", str(line))


def count(value: Any) -> int:
    """A count an API reported (a progress figure): 0 when it is not a whole number."""
    if isinstance(value, bool):
        return 0
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError, OverflowError):
        return 0
