"""Issue 10.11: ``stream: true`` answered with one plain JSON body is the answer, not a drop.

No third-party test server here ignores ``stream`` (llmock, aimock and llama.cpp all honour
it), so a small aiohttp server (tests/plain_server.py) answers as such servers do, over
real HTTP.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plain_server import plain_server
from tests.providers_support import run_one_streamed

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_plain_json_answer_to_a_streamed_request_is_the_answer(tmp_path: Path, api: str) -> None:
    with plain_server() as server:
        line = run_one_streamed(tmp_path, server.url, "m", api=api)
    assert server.requests[0]["stream"] is True  # it was asked to stream, and did not
    assert line["status"] == "ok", line["error"]
    assert line["response"] == "a whole answer"
    assert line["attempts"] == 1 and len(server.requests) == 1  # not retried as a drop
    usage = line["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (3, 3)
