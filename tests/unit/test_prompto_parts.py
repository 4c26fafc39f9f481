"""Every content-part form prompto accepts: the canonical forms.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_prompto_parts.py.
"""

from __future__ import annotations

import pytest

from runner.prompts.parts import PartFormError, canonical_prompt
from tests.providers_support import (
    PNG_1X1,
)


def test_canonical_forms_and_unknown_parts() -> None:
    """The canonical shape of each form; an unknown part type names where it is."""
    prompt = [
        {
            "role": "model",
            "parts": ["x", {"type": "uri", "media": "gs://b/v.mp4", "mime_type": "video/mp4"}],
        },
        {
            "role": "user",
            "content": {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
        },
    ]
    assert canonical_prompt(prompt) == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "x"},
                {"type": "file", "url": "gs://b/v.mp4", "mime_type": "video/mp4"},
            ],
        },
        {"role": "user", "content": [{"type": "image", "url": "data:image/png;base64,AA=="}]},
    ]
    with pytest.raises(PartFormError, match=r"'prompt'\[0\] part 1 has an unknown part type 'gif'"):
        canonical_prompt([{"role": "user", "content": ["a", {"type": "gif", "media": "x"}]}])
    assert PNG_1X1  # the shared fixture image is a real PNG
