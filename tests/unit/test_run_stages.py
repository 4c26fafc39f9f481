"""A run is named stages in order, over one provider per api (issue 25, item 3).

``Run.execute`` calls read, plan, send, write, summarise, index and report, each once; a
resume of a finished run stops after the plan; a send that fails still summarises (run.json
says "failed"). A :class:`ProviderSet` makes each api's provider once and fingerprints each
(api, model) once, for the plan, the key limits and the refused keys alike.
"""

from __future__ import annotations

from collections import Counter

import pytest

from runner.config.schema import RunConfig
from runner.prompts.records import PromptRecord
from runner.providers import ProviderContext, ProviderSet
from runner.providers.openai import OpenAIProvider
from runner.run import STAGES, Run


def _record(model: str, i: int = 0) -> PromptRecord:
    return PromptRecord({"id": i, "api": "openai", "model_name": model, "prompt": f"q {i}"})


def count_credentials(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str | None]]:
    """Every ``OpenAIProvider.credential`` call, by (api, model)."""
    calls: Counter[tuple[str, str | None]] = Counter()
    credential = OpenAIProvider.credential

    def counted(self: OpenAIProvider, record: PromptRecord) -> str:
        calls[(record.api, record.model_name)] += 1
        return credential(self, record)

    monkeypatch.setattr(OpenAIProvider, "credential", counted)
    return calls


def count_made(monkeypatch: pytest.MonkeyPatch) -> list[OpenAIProvider]:
    """Every ``OpenAIProvider`` made."""
    made: list[OpenAIProvider] = []
    init = OpenAIProvider.__init__

    def counted(self: OpenAIProvider, context: ProviderContext) -> None:
        made.append(self)
        init(self, context)

    monkeypatch.setattr(OpenAIProvider, "__init__", counted)
    return made


def test_a_provider_set_makes_a_provider_once_and_fingerprints_a_model_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls, made = count_credentials(monkeypatch), count_made(monkeypatch)
    providers = ProviderSet(ProviderContext(RunConfig(), env={"OPENAI_API_KEY": "k"}))
    assert providers.providers == {}  # nothing made before it is asked for
    first = providers.provider("openai")
    prints = {providers.credential(_record(m, i)) for i in range(500) for m in ("a", "b")}
    assert providers.provider("openai") is first and made == [first]
    assert calls == {("openai", "a"): 1, ("openai", "b"): 1}
    assert len(prints) == 1  # one key and endpoint for both models: one account
    assert providers.providers == {"openai": first}


def test_the_stages_in_order() -> None:
    assert STAGES == ("read", "plan", "send", "write", "summarise", "index", "report")
    assert all(callable(getattr(Run, name)) for name in STAGES)
