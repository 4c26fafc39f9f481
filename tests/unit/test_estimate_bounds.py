"""Estimates from the bill's rules (issue 20 item 3): thinking budgets, reasoning bounds,
earlier answers of multi-turn prompts, cache writes; and which figures are upper bounds.
"""

from __future__ import annotations

from typing import Any

import pytest

from runner.config.schema import RunConfig
from runner.cost.budget import Budget
from runner.cost.estimate import ModelEstimate, format_estimate
from runner.cost.prices import Price, PriceBook
from runner.cost.reserve import (
    CACHE_WRITE_1H,
    CACHE_WRITE_5M,
    cache_write_factor,
    input_factor,
    output_bounded,
    reservation,
    shape_of,
)
from runner.limits.tokens import answer_tokens, estimate_split
from runner.prompts.records import PromptRecord
from runner.providers.base import ProviderContext, provider_class


def _record(api: str, params: dict[str, Any], prompt: Any = "hello") -> PromptRecord:
    return PromptRecord(
        {"id": 1, "api": api, "model_name": "m", "prompt": prompt} | {"parameters": params}
    )


@pytest.mark.parametrize(
    ("api", "params", "expected"),
    [
        # OpenAI reasoning models: max_completion_tokens bounds reasoning and answer together.
        ("openai", {"max_completion_tokens": 5000, "reasoning_effort": "high"}, 5000),
        # The Responses API: max_output_tokens bounds reasoning too.
        ("openai", {"max_output_tokens": 3000}, 3000),
        # Gemini: maxOutputTokens counts the thoughts; the thinking budget is inside it.
        ("gemini", {"maxOutputTokens": 2048, "thinkingConfig": {"thinkingBudget": 1024}}, 2048),
        # Gemini thinking without a bound: the budget plus the answer's guess.
        ("gemini", {"thinkingConfig": {"thinkingBudget": 1024}}, 256 + 1024),
        ("gemini", {"thinking_config": {"thinking_budget": 512}}, 256 + 512),
        ("vertexai", {"generationConfig": {"maxOutputTokens": 900}}, 900),
        # Anthropic: budget_tokens is inside max_tokens...
        (
            "anthropic",
            {"max_tokens": 5000, "thinking": {"type": "enabled", "budget_tokens": 4000}},
            5000,
        ),
        # ... except with interleaved thinking, where it may exceed it.
        (
            "anthropic",
            {"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 8000}},
            8000,
        ),
        # Gemini's dynamic budget (-1) bounds nothing.
        ("gemini", {"thinkingConfig": {"thinkingBudget": -1}}, 256),
    ],
)
def test_the_answer_counts_thinking_and_reasoning_as_the_bill_does(
    api: str, params: dict[str, Any], expected: float
) -> None:
    record = _record(api, params)
    assert answer_tokens(record, 256) == expected
    # The TPM estimate of each provider counts it the same way.
    provider = provider_class(api)(ProviderContext(RunConfig()))
    assert provider.estimate_tokens(record).output == expected


def test_anthropic_counts_the_max_tokens_it_sends_when_a_prompt_gives_none() -> None:
    provider = provider_class("anthropic")(ProviderContext(RunConfig()))
    assert provider.estimate_tokens(_record("anthropic", {})).output == 1024
    assert output_bounded(_record("anthropic", {}))
    assert not output_bounded(_record("openai", {"reasoning_effort": "high"}))


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
def test_a_multi_turn_prompt_counts_each_earlier_answer_on_every_later_turn(api: str) -> None:
    record = _record(api, {"max_tokens": 1000}, ["hi"] * 10)
    provider = provider_class(api)(ProviderContext(RunConfig()))
    one = provider.estimate_tokens(_record(api, {"max_tokens": 1000}, ["hi"]))
    ten = provider.estimate_tokens(record)
    # Turn k sends the k - 1 answers before it: 45 answers of up to 1000 tokens in all.
    assert ten.input >= 45 * 1000
    assert ten.output == 10 * 1000
    assert one.input < 1000 and estimate_split(record, 256).input >= 45 * 1000


def test_anthropic_cache_writes_are_priced_at_their_premium() -> None:
    text = {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}
    cached = _record("anthropic", {"max_tokens": 10}, [{"role": "user", "content": [text]}])
    hour = {**text, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    hourly = _record("anthropic", {"max_tokens": 10}, [{"role": "user", "content": [hour]}])
    assert cache_write_factor(cached) == CACHE_WRITE_5M
    assert cache_write_factor(hourly) == CACHE_WRITE_1H
    assert cache_write_factor(_record("anthropic", {"max_tokens": 10})) == 1.0
    assert cache_write_factor(_record("openai", {"cache_control": {"ttl": "1h"}})) == 1.0
    prices = PriceBook({"m": Price(1_000_000, 0)})  # a dollar a token in, output free
    tokens = estimate_split(cached, 256)
    assert reservation(prices, cached, tokens, 1.0, batch=False) == pytest.approx(
        tokens.input * CACHE_WRITE_5M
    )


def test_a_reservation_holds_the_thinking_budget_and_learns_the_input() -> None:
    record = _record("gemini", {"thinkingConfig": {"thinkingBudget": 4000}})
    prices = PriceBook({"m": Price(1_000_000, 1_000_000)})
    budget = Budget(100.0)
    shape = shape_of(record)
    tokens = estimate_split(record, 256)
    first = reservation(prices, record, tokens, input_factor(budget, shape), batch=False)
    assert first == pytest.approx(tokens.input * 4 + 4256)  # before any bill: 4x the input
    budget.learnt[shape] = 2.0  # billed twice the estimate so far
    later = reservation(prices, record, tokens, input_factor(budget, shape), batch=False)
    assert later == pytest.approx(tokens.input * 2.0 * 1.25 + 4256)


def test_the_estimate_says_which_figures_are_upper_bounds() -> None:
    rows = [
        ModelEstimate("openai/o3", prompts=2, online_usd=0.5, output_bounded=True),
        ModelEstimate("gemini/flash", prompts=2, online_usd=0.1, output_bounded=False),
    ]
    text = "\n".join(format_estimate(rows, cap=1.0))
    assert "output tokens are upper bounds" in text
    assert "except for gemini/flash" in text and "output_tokens_estimate is a guess" in text
    assert "the jobs of a sweep (-m) share it" in text


@pytest.mark.parametrize("api", ["anthropic", "gemini"])
def test_system_prompts_and_tools_given_as_parameters_count_as_input(api: str) -> None:
    tool = {"name": "lookup", "description": "x" * 400, "input_schema": {"type": "object"}}
    plain = _record(api, {"max_tokens": 10})
    heavy = _record(api, {"max_tokens": 10, "system": "s" * 800, "tools": [tool]})
    assert estimate_split(heavy, 256).input >= estimate_split(plain, 256).input + 300
