"""A bad line in a batch's results costs that one prompt, not the run.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_batch_bad_lines.py.
"""

from __future__ import annotations

from typing import Any


async def test_a_streamed_answers_bad_usage_is_dropped_too() -> None:
    """The same cause online: a stream's usage is set after the answer is built."""
    from collections.abc import AsyncIterator

    from runner.providers.http import STREAM_DONE
    from runner.providers.openai import collect_chat_stream

    async def events() -> AsyncIterator[tuple[str, Any]]:
        choice = {"delta": {"content": "hi"}, "finish_reason": "stop"}
        usage = {"prompt_tokens": -7500, "completion_tokens": "abc"}
        yield "message", {"choices": [choice], "usage": usage}
        yield "message", STREAM_DONE

    completion = await collect_chat_stream(events())
    assert completion.text == "hi"
    assert (completion.input_tokens, completion.output_tokens) == (None, None)
