"""A provider declares how it is sent (issue 13.8): model by model, token accounting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner.limits.quota import Accounting
from runner.prompts.grouping import group_records
from runner.prompts.records import PromptRecord
from runner.providers import registry
from runner.providers.base import Completion, Provider, provider_class


class _Swapper(Provider):
    api = "test-swapper"
    sends_model_by_model = True

    async def complete(self, record: PromptRecord) -> Completion:  # pragma: no cover
        return Completion("ok")


@pytest.fixture
def swapper() -> Iterator[None]:
    registry.register(_Swapper)
    yield
    registry._REGISTRY.pop(_Swapper.api)


def test_a_provider_that_loads_one_model_at_a_time_gets_its_prompts_model_by_model(
    swapper: None,
) -> None:
    models = ["a", "b", "a", "b", "a"]
    records = [
        PromptRecord({"id": i, "api": "test-swapper", "model_name": m, "prompt": "x"})
        for i, m in enumerate(models)
    ]
    (group,) = group_records(records, max_queries=10, parallel=False, max_queries_dict={}).values()
    assert isinstance(group.records, list)
    assert [r.model_name for r in group.records] == ["a", "a", "a", "b", "b"]


def test_built_in_providers_declare_it() -> None:
    assert provider_class("local").sends_model_by_model
    assert provider_class("ollama").sends_model_by_model
    assert not provider_class("openai").sends_model_by_model
    assert provider_class("openai").token_accounting is Accounting.RESERVED
    assert provider_class("anthropic").token_accounting is Accounting.ACTUAL


def test_credentials_are_declared_once_and_make_the_shared_limit_identity() -> None:
    from runner.config.schema import RunConfig
    from runner.providers.base import HttpProvider, ProviderContext

    openai = provider_class("openai")
    assert issubclass(openai, HttpProvider)
    assert (openai.key_env, openai.url_env) == ("OPENAI_API_KEY", "OPENAI_BASE_URL")
    for api in ("anthropic", "gemini", "ollama", "azure-openai", "huggingface-tgi"):
        assert issubclass(provider_class(api), HttpProvider), api

    def credential(env: dict[str, str]) -> str:
        provider = openai(ProviderContext(RunConfig(), env=env))
        record = PromptRecord({"api": "openai", "model_name": "m", "prompt": "x"})
        return provider.credential(record)

    one = credential({"OPENAI_API_KEY": "k1"})
    assert one == credential({"OPENAI_API_KEY": "k1"})
    assert one != credential({"OPENAI_API_KEY": "k2"})  # another key, another limit
    assert one != credential({"OPENAI_API_KEY": "k1", "OPENAI_BASE_URL": "http://x"})
    assert "k1" not in one  # a fingerprint, never the key
