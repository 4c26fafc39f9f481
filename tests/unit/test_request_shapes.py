"""Today's request shapes: the cache tells chat and Responses answers apart.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_request_shapes.py.
"""

from __future__ import annotations

from runner.config.schema import RunConfig
from runner.providers import ProviderContext
from runner.providers.openai import OpenAIProvider


def test_the_cache_tells_chat_and_responses_answers_apart() -> None:
    settings = RunConfig()
    chat = OpenAIProvider(ProviderContext(settings)).cache_identity("m")
    assert "endpoint" not in chat  # chat answers keep the keys they were cached under
    settings.apis.openai.endpoint = "responses"
    assert OpenAIProvider(ProviderContext(settings)).cache_identity("m") != chat
