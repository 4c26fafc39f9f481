"""Per-prompt work kept off the request path (issue 25 item 6): hooks an observer does not
have are not called, and an OpenAI model's URL, key and headers are worked out once."""

from __future__ import annotations

from typing import Any

import pytest

from runner.config.schema import RunConfig
from runner.engine.session import engine_session
from runner.output.observer import Observer
from runner.output.results import Outcome
from runner.prompts.grouping import Group
from runner.prompts.records import PromptRecord
from runner.providers.base import ProviderContext
from runner.providers.openai import OpenAIProvider
from tests import servers

pytestmark = pytest.mark.integration


class Quiet(Observer):
    """An observer with no hook of its own (as the cost tally has no on_send)."""


def _records(n: int) -> list[PromptRecord]:
    return [
        PromptRecord({"id": i, "api": "openai", "model_name": "gpt-h", "prompt": "hi"})
        for i in range(n)
    ]


async def test_hooks_an_observer_lacks_are_not_called_and_the_target_is_built_once(
    monkeypatch: pytest.MonkeyPatch, llmock_server: servers.Server
) -> None:
    env = {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    context = ProviderContext(RunConfig(max_queries=6000), env=env)
    outcomes: list[Outcome] = []
    calls: list[str] = []
    key = OpenAIProvider.key

    def counted_key(self: OpenAIProvider, model_name: str | None) -> str | None:
        calls.append("key")
        return key(self, model_name)

    def counted(name: str) -> Any:
        return lambda *_args: calls.append(name)

    monkeypatch.setattr(OpenAIProvider, "key", counted_key)
    async with engine_session(
        context, outcomes.append, apis=["openai"], observers=[Quiet()]
    ) as engine:
        # Observer's own no-op hooks, counted from here on: none is called per prompt.
        for hook in ("on_send", "on_attempt", "on_outcome"):
            monkeypatch.setattr(Observer, hook, counted(hook))
        stats = await engine.run({"g": Group("g", 6000, _records(4))})
    assert stats["g"].ok == 4 and len(outcomes) == 4
    assert [o.completion.text for o in outcomes if o.completion] != []
    assert calls == ["key"]  # one model: its key read once, not once a prompt
