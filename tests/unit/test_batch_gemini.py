"""The Gemini batch adapter (batchGenerateContent): what may go in a batch.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_batch_gemini.py.
"""

from __future__ import annotations

import pytest

from runner.batch.gemini import GeminiBatches
from runner.config.schema import RunConfig
from runner.errors import ErrorKind, ProviderError
from runner.providers.base import ProviderContext
from runner.providers.gemini import GeminiProvider
from tests.batch_support import record


def test_a_conversation_cannot_go_in_a_batch() -> None:
    adapter = GeminiBatches(GeminiProvider(ProviderContext(RunConfig())))
    with pytest.raises(ProviderError, match="multi-turn") as turns:
        adapter.request_line(record("gemini", "m", 0, ["one", "two"]), "c0")
    assert turns.value.kind is ErrorKind.FATAL
