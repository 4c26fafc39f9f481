"""Token limits (issue 13.1, 13.2): accounting and the shape of the settings.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_token_limits.py.
"""

from __future__ import annotations

from runner.config.schema import RunConfig
from runner.limits.from_settings import accounting_of
from runner.limits.quota import Accounting, Counts
from runner.prompts.grouping import GroupAssigner
from runner.prompts.records import PromptRecord


def test_providers_declare_accounting_and_the_setting_overrides() -> None:
    declared = {"openai": Accounting.RESERVED, "anthropic": Accounting.ACTUAL}
    by_provider = accounting_of(RunConfig(), declared)
    assert by_provider({"openai"}) is Accounting.RESERVED
    assert by_provider({"anthropic"}) is Accounting.ACTUAL
    assert by_provider({"openai", "anthropic"}) is Accounting.RESERVED  # never overrun
    forced = accounting_of(RunConfig(token_accounting="actual"), declared)
    assert forced({"openai"}) is Accounting.ACTUAL


def test_input_and_output_limits_shaped_like_max_queries_dict() -> None:
    assigner = GroupAssigner(
        max_queries=10,
        parallel=True,
        max_queries_dict={},
        token_limits={
            Counts.INPUT_TOKENS: (1000.0, {"openai": {"big": 5000}}),
            Counts.OUTPUT_TOKENS: (None, {"openai": 300}),
        },
    )
    record = PromptRecord({"api": "openai", "model_name": "big", "prompt": "x"})
    name, _rate, tokens = assigner.assign(record)
    assert name == "openai-big"
    assert tokens == {Counts.INPUT_TOKENS: 5000.0, Counts.OUTPUT_TOKENS: 300.0}
