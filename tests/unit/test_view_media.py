"""The viewer's media route: images named by prompts, from the media folder only.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_view_media.py.
"""

from __future__ import annotations

from runner.view.conversation import conversation


def test_image_parts_become_thumbnails_in_the_conversation() -> None:
    turns = conversation(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is it?"},
                    {"type": "image", "media": "sub/cat.png"},
                ],
            }
        ],
        "a cat",
    )
    assert turns[0]["text"] == "what is it?" and turns[0]["media"] == ["sub/cat.png"]
    assert turns[1] == {"role": "assistant", "text": "a cat", "media": []}
