"""Prompt forms, shared by the chat APIs.

A prompt is a string, a list of strings (a conversation: each string is a user turn and
the model's reply is fed back before the next), or a list of chat messages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from runner.errors import ProviderError
from runner.providers.base import Completion
from runner.providers.usage import add_counts

Message = dict[str, Any]
SendChat = Callable[[list[Message]], Awaitable[Completion]]


def is_turn_list(prompt: Any) -> bool:
    """Whether ``prompt`` is a list of strings (a multi-turn conversation)."""
    return isinstance(prompt, list) and all(isinstance(p, str) for p in prompt)


async def run_chat(prompt: Any, send: SendChat) -> Completion:
    """Send a prompt of any form through ``send``, one chat request per user turn.

    Args:
        prompt: a string, a list of strings, or a list of chat messages.
        send: sends a list of messages and returns the reply.
    """
    if isinstance(prompt, str):
        return await send([{"role": "user", "content": prompt}])
    if not is_turn_list(prompt):
        return await send([dict(m) for m in prompt])
    history: list[Message] = []
    replies: list[str] = []
    thoughts: list[str] = []
    sent: list[Completion] = []
    total = Completion(text=replies, turns=sent)
    for turn in prompt:
        history.append({"role": "user", "content": turn})
        try:
            reply = await send(list(history))
        except ProviderError as exc:
            if sent:  # the turns answered so far are on the bill
                exc.billed = total
            raise
        text = reply.text if isinstance(reply.text, str) else "\n".join(reply.text)
        history.append({"role": "assistant", "content": text})
        replies.append(text)
        add_counts(total, reply)
        sent.append(reply)
        total.finish_reason = reply.finish_reason
        total.model = reply.model
        # One thinking text per turn (like the replies); tool calls of every turn together.
        thoughts.append(reply.thinking if isinstance(reply.thinking, str) else "")
        if reply.tool_calls:
            total.tool_calls = [*(total.tool_calls or []), *reply.tool_calls]
    total.thinking = thoughts if any(thoughts) else None
    return total
