"""api: ollama: the message carries images as base64.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_providers_ollama.py.
"""

from __future__ import annotations

from pathlib import Path

from runner.providers import media
from runner.providers.ollama import ollama_message, request_body
from tests.providers_support import (
    PNG_B64,
    write_media,
)


def test_ollama_message_carries_images_as_base64(tmp_path: Path) -> None:
    """Images of a message go in its `images` list; parameters go in `options`."""
    folder = write_media(tmp_path)
    message = {
        "role": "user",
        "content": [{"type": "text", "text": "what?"}, {"type": "image", "media": "pixel.png"}],
    }
    assert ollama_message(message, folder) == {
        "role": "user",
        "content": "what?",
        "images": [PNG_B64],
    }
    body = request_body("m", {"temperature": 0.1, "keep_alive": "5m"}, prompt="x")
    assert body == {
        "keep_alive": "5m",
        "prompt": "x",
        "model": "m",
        "stream": False,
        "options": {"temperature": 0.1},
    }
    assert media.has_images([message])
