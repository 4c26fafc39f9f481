"""Today's request shapes against llmock: the Responses API, tool calls, reasoning settings.

llmock (PyPI) serves ``/v1/responses`` and answers tool calls for OpenAI chat, Responses,
Anthropic and Gemini; its journal shows the bodies runner sent.
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
