"""prompto files with bad parts, media or settings: exit 2, every problem named, nothing sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.helpers import write_jsonl
from tests.integration.test_check import _check, _env
from tests.providers_support import llmock_bodies, unique_model, write_media

pytestmark = pytest.mark.integration


def test_bad_parts_media_and_safety_filter_are_named(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    folder = write_media(tmp_path)
    (folder / "big.mp4").write_bytes(b"v" * 5000)
    gpt, gem = unique_model("gpt-bad"), unique_model("gemini-bad")
    user = "user"
    records: list[dict[str, Any]] = [
        {
            "api": "openai",
            "model_name": gpt,
            "prompt": [{"role": user, "content": [{"type": "image_url", "image_url": "nope.jpg"}]}],
        },
        {
            "api": "gemini",
            "model_name": gem,
            "prompt": [{"role": user, "parts": ["a", {"type": "gif", "media": "x.gif"}]}],
        },
        {
            "api": "vertexai",
            "model_name": "gemini-v",
            "prompt": [{"role": user, "parts": ["a", {"type": "video", "media": "big.mp4"}]}],
        },
        {"api": "gemini", "model_name": gem, "prompt": "hi", "safety_filter": "extreme"},
        {
            "api": "anthropic",
            "model_name": "claude",
            "prompt": [{"role": user, "content": [{"type": "image", "source": "pic.jpg"}]}],
        },
        {"api": "gemini", "model_name": gem, "prompt": "fine"},
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    env = _env(
        llmock_server,
        GEMINI_API_KEY="k",
        ANTHROPIC_API_KEY="k",
        VERTEXAI_PROJECT_ID="p",
        VERTEXAI_ACCESS_TOKEN="t",
    )
    out = _check(tmp_path, env, "apis.vertexai.inline_limit=1000")
    assert out.returncode == 2, out.stderr
    expected = {
        1: "'prompt'[0] part 0: media file 'nope.jpg' not found",
        2: "'prompt'[0] part 1 has an unknown part type 'gif'",
        3: "media file 'big.mp4' is 5,000 bytes, over the 1,000 bytes api 'vertexai' takes inline",
        4: "field 'safety_filter' is 'extreme'; use one of 'none', 'few', 'some'",
        5: "'source' must be an object with 'media' and 'media_type'",
    }
    rows = out.stdout.splitlines()
    for line, fragment in expected.items():
        assert any(f"exp.jsonl:{line}: " in r and fragment in r for r in rows), (line, out.stdout)
    assert "exp.jsonl:6:" not in out.stdout
    assert not (tmp_path / "outputs").exists()
    assert llmock_bodies(llmock_server, gpt) == [] and llmock_bodies(llmock_server, gem) == []


def test_gemini_without_file_api_refuses_a_large_file(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    folder = write_media(tmp_path)
    (folder / "big.mp4").write_bytes(b"v" * 5000)
    gem = unique_model("gemini-nofiles")
    prompt = [{"role": "user", "parts": [{"type": "video", "media": "big.mp4"}, "what?"]}]
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"api": "gemini", "model_name": gem, "prompt": prompt}],
    )
    env = _env(llmock_server, GEMINI_API_KEY="k")
    out = _check(tmp_path, env, "apis.gemini.file_api=false", "apis.gemini.inline_limit=1000")
    assert out.returncode == 2, out.stderr
    assert "exp.jsonl:1: 'prompt'[0] part 0: media file 'big.mp4'" in out.stdout
    assert "has no File API" in out.stdout
    assert llmock_bodies(llmock_server, gem) == []
