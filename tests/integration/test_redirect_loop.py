"""An endpoint that redirects in a loop is one clear error per prompt, not retried.

No third-party test server redirects; this in-test one answers every request with
``307 Temporary Redirect`` to itself (RFC 9110, section 15.4.8:
https://www.rfc-editor.org/rfc/rfc9110#name-307-temporary-redirect), as a misconfigured
proxy in front of an API does. Each prompt's error was "bad response: " (aiohttp's message
for too many redirects is empty), and it was retried: 10 hops per attempt, every attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.budget_support import serve
from tests.helpers import read_jsonl, run_cli, write_jsonl

pytestmark = pytest.mark.integration


@pytest.fixture
def looping_server() -> Iterator[tuple[str, list[int]]]:
    hits: list[int] = []

    async def loop_back(request: web.Request) -> web.Response:
        hits.append(1)
        raise web.HTTPTemporaryRedirect(request.path)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", loop_back)
    with serve(app) as url:
        yield url, hits


def test_a_redirect_loop_is_one_clear_error_not_retried(
    tmp_path: Path, looping_server: tuple[str, list[int]]
) -> None:
    url, hits = looping_server
    write_jsonl(
        tmp_path / "experiments" / "e.jsonl",
        [{"id": f"p{i}", "api": "openai", "model_name": "m", "prompt": "q"} for i in range(2)],
    )
    out = run_cli(tmp_path, url, "experiment=e", "max_queries=60000", "max_attempts=3")
    assert out.returncode == 1, out.stderr
    lines = read_jsonl(next((tmp_path / "outputs" / "e").iterdir()) / "completed.jsonl")
    assert [(x["error_kind"], x["attempts"]) for x in lines] == [("fatal", 1)] * 2
    assert all("too many redirects (10)" in x["error"] for x in lines)
    assert len(hits) == 2 * 10  # 10 requests (aiohttp stops at its 10th redirect) per prompt
