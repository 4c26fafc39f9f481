"""One engine session (issue 13.5): it owns the HTTP session and the providers it made,
outcomes carry the sender's own tag, and observers see every send and outcome."""

from __future__ import annotations

import pytest

from runner.config.schema import RunConfig
from runner.engine.session import engine_session
from runner.output.observer import Observer
from runner.output.results import Outcome
from runner.prompts.grouping import Group, Tagged
from runner.prompts.records import PromptRecord
from runner.providers.base import ProviderContext
from tests import servers

pytestmark = pytest.mark.integration


class Seen(Observer):
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.outcomes: list[Outcome] = []

    def on_send(self, record: PromptRecord, group: str) -> None:
        self.sent.append(f"{group}:{record.data['id']}")

    def on_outcome(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)


async def test_a_session_owns_what_it_opened_and_tags_come_back(
    llmock_server: servers.Server,
) -> None:
    env = {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    context = ProviderContext(RunConfig(max_queries=6000), env=env)
    outcomes: list[Outcome] = []
    seen = Seen()
    records = [
        Tagged(PromptRecord({"id": i, "api": "openai", "model_name": "gpt-s", "prompt": "hi"}),
               ("mine", i))
        for i in range(3)
    ]  # fmt: skip
    async with engine_session(
        context, outcomes.append, apis=["openai"], observers=[seen]
    ) as engine:
        session = context.session
        assert session is not None and not session.closed
        stats = await engine.run({"g": Group("g", 6000, records)})
    assert stats["g"].ok == 3
    assert sorted(o.tag for o in outcomes) == [("mine", 0), ("mine", 1), ("mine", 2)]
    assert sorted(seen.sent) == ["g:0", "g:1", "g:2"] and len(seen.outcomes) == 3
    # The session it opened is closed, and the context no longer points at it.
    assert session.closed and context.session is None
