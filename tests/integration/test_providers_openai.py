"""api: openai additions over real HTTP against llmock: images, and a hard quota."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.providers_support import (
    PNG_B64,
    llmock_bodies,
    run_records,
    scenario,
    unique_model,
    write_media,
)

pytestmark = pytest.mark.integration


def _env(server: servers.Server) -> dict[str, str]:
    return {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f"{server.url}/v1"}


def _record(model: str, i: int, prompt: Any) -> dict[str, Any]:
    return {"id": f"p{i}", "api": "openai", "model_name": model, "prompt": prompt}


def test_images_as_data_urls_and_urls(tmp_path: Path, llmock_server: servers.Server) -> None:
    """Parts become text / image_url parts; a file becomes a base64 data URL."""
    write_media(tmp_path)
    model = unique_model("gpt-vision")
    prompt = [
        {"role": "system", "content": "describe images"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "media": "pixel.png"},
                {"type": "image", "url": "https://example.org/cat.jpg"},
            ],
        },
    ]
    lines, result = run_records(tmp_path, [_record(model, 0, prompt)], _env(llmock_server))
    assert result.exit_code == 0, lines
    (body,) = llmock_bodies(llmock_server, model)
    assert body["messages"][0] == {"role": "system", "content": "describe images"}
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "image_url", "image_url": {"url": "https://example.org/cat.jpg"}},
    ]


def test_insufficient_quota_stops_the_group(tmp_path: Path, llmock_server: servers.Server) -> None:
    """insufficient_quota stops its group: the rest are recorded as not sent, and said so."""
    model = unique_model("gpt-quota")
    other = unique_model("gpt-other")
    scenario(
        llmock_server,
        {
            "type": "fail",
            "status": 429,
            "code": "insufficient_quota",
            "message": "You exceeded your current quota, please check your plan and billing.",
            "times": 1,
            "match": {"model": model},
        },
    )
    records = [
        *(_record(model, i, f"hello {i}") | {"group": "paid"} for i in range(4)),
        _record(other, 9, "unaffected") | {"group": "free"},
    ]
    lines, result = run_records(
        tmp_path, records, _env(llmock_server), "parallel=true", "max_concurrency=1"
    )
    assert result.exit_code == 1
    paid = [line for line in lines if line["group"] == "paid"]
    assert [line["error_kind"] for line in paid].count("not_sent") == 3
    assert all(line["status"] == "error" for line in paid)
    assert paid[0]["attempts"] == 1 and "insufficient_quota" in paid[0]["error"]
    assert result.summary.not_sent == 3 and "3 not sent" in result.summary.format()
    assert len(llmock_bodies(llmock_server, model)) == 1  # nothing sent after the quota error
    free = next(line for line in lines if line["group"] == "free")
    assert free["status"] == "ok"  # another group keeps going
