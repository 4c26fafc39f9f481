"""A bad line in a batch's results costs that one prompt, not the run.

Each case replaces the result of the second prompt with a line of another shape (played by
the in-test batch server, tests/batch_server.py and tests/batch_server_apis.py, which
answer the documented shapes otherwise: https://platform.openai.com/docs/api-reference/batch,
https://docs.anthropic.com/en/api/retrieving-message-batch-results,
https://ai.google.dev/api/batch-mode). The run completes, that prompt is recorded as an
error naming what was wrong (or, for a line that names no prompt of the batch, is sent
again), every other prompt normally, and a resume of the run works.
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
