"""The Anthropic batch adapter (Message Batches): what may go in a batch.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_batch_anthropic.py.
"""

from __future__ import annotations

import pytest

from runner.batch.anthropic import AnthropicBatches
from runner.config.schema import RunConfig
from runner.errors import ErrorKind, ProviderError
from runner.providers.anthropic import AnthropicProvider
from runner.providers.base import ProviderContext
from tests.batch_support import record


def test_a_conversation_or_an_unfit_custom_id_cannot_go_in_a_batch_one_turn_can() -> None:
    adapter = AnthropicBatches(AnthropicProvider(ProviderContext(RunConfig())))
    with pytest.raises(ProviderError, match="multi-turn") as turns:
        adapter.request_line(record("anthropic", "m", 0, ["one", "two"]), "c0")
    assert turns.value.kind is ErrorKind.FATAL
    solo = adapter.request_line(record("anthropic", "m", 0, ["solo"]), "c0")
    assert solo["params"]["messages"] == [{"role": "user", "content": "solo"}]
    with pytest.raises(ProviderError, match="custom_id"):
        adapter.request_line(record("anthropic", "m", 0, "hi"), "has:colon")
