"""What the batch adapters share: one prompt as one request, per-item errors as online ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
