"""Cost per result (issue 15 item 2): prices, cost_usd on every line, totals, the index.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_cost.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from loguru import logger

from runner.cost.budget import Budget
from runner.cost.prices import Price, PriceBook, cost_of
from runner.output.money import dollars
from runner.output.results import Outcome
from runner.prompts.records import PromptRecord
from runner.providers.base import Completion

# Bundled genai-prices 0.2.3: gpt-4o-mini is $0.15 / $0.60 per million, batch $0.075 / $0.30.
MINI_IN, MINI_OUT = 0.15, 0.60


def _record(api: str = "openai", model: str = "gpt-4o-mini") -> PromptRecord:
    return PromptRecord({"id": "a", "api": api, "model_name": model, "prompt": "hi"}, "f", 1)


def _outcome(tokens_in: int, tokens_out: int, **kw: Any) -> Outcome:
    completion = Completion("x", input_tokens=tokens_in, output_tokens=tokens_out)
    return Outcome(_record(), "g", 1, completion=completion, **kw)


def test_bundled_prices_online_batch_and_unknown() -> None:
    assert cost_of("openai", "gpt-4o-mini", 1e6, 1e6, batch=False) == pytest.approx(0.75)
    # genai-prices knows OpenAI's batch price; Anthropic's 3.5 Haiku has none there: half.
    assert cost_of("openai", "gpt-4o-mini", 1e6, 1e6, batch=True) == pytest.approx(0.375)
    online = cost_of("anthropic", "claude-3-5-haiku-latest", 1e6, 0, batch=False)
    assert online is not None
    batch = cost_of("anthropic", "claude-3-5-haiku-latest", 1e6, 0, batch=True)
    assert batch == pytest.approx(online / 2)
    # The rates read once agree with genai-prices' own calculation, tiers included.
    from genai_prices import Usage, calc_price

    for model, provider, api in [("gpt-4o-mini", "openai", "openai"),
                                 ("gemini-2.5-pro", "google", "gemini")]:  # fmt: skip
        for tokens in [(123, 456), (300_000, 1_000)]:  # 2.5 Pro's tier starts at 200k
            usage = Usage(input_tokens=tokens[0], output_tokens=tokens[1])
            want = calc_price(usage, model, provider_id=provider).total_price
            assert cost_of(api, model, *tokens, batch=False) == pytest.approx(float(want))
    assert cost_of("local", "gemma-3-270m", 1e6, 1e6, batch=False) == 0.0
    assert cost_of("ollama", "llama3", 1e6, 1e6, batch=False) == 0.0


def test_unknown_price_is_null_with_one_warning_and_overrides_win() -> None:
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="WARNING")
    try:
        book = PriceBook()
        assert book.cost_of("openai", "no-such-model", 10, 10, batch=False) is None
        assert book.cost_of("openai", "no-such-model", 10, 10, batch=False) is None
        assert book.cost_of("huggingface-tgi", "tgi", 10, 10, batch=False) is None
    finally:
        logger.remove(sink)
    assert sum("openai/no-such-model" in m for m in seen) == 1
    assert sum("huggingface-tgi/tgi" in m for m in seen) == 1
    own = PriceBook({"openai/gpt-4o-mini": Price(1.0, 2.0), "x": Price(1.0, 2.0, 0.1, None)})
    assert own.cost_of("openai", "gpt-4o-mini", 1e6, 1e6, batch=False) == pytest.approx(3.0)
    assert own.cost_of("openai", "gpt-4o-mini", 1e6, 1e6, batch=True) == pytest.approx(1.5)
    assert own.cost_of("anthropic", "x", 1e6, 1e6, batch=True) == pytest.approx(1.1)


def test_outcome_cost_zero_when_cached_batch_price_with_batch_id() -> None:
    book = PriceBook()
    online = (1000 * MINI_IN + 100 * MINI_OUT) / 1e6
    assert book.outcome_cost(_outcome(1000, 100)) == pytest.approx(online)
    assert book.outcome_cost(_outcome(1000, 100, batch_id="b1")) == pytest.approx(online / 2)
    assert book.outcome_cost(_outcome(1000, 100, cached=True)) == 0.0
    failed = Outcome(_record(), "g", 1, error=None)
    assert book.outcome_cost(failed) == 0.0  # nothing answered: nothing billed


def test_budget_reserves_settles_and_stops() -> None:
    budget = Budget(1.0)
    assert budget.reserve(0.4, "generation") and budget.reserve(0.4, "judge:j")
    assert not budget.reserve(0.4, "generation")  # 0.8 held + 0.4 > 1.0
    assert budget.exhausted and not budget.reserve(0.01, "generation")  # sticky
    budget.settle(0.4, 0.1, "generation")
    budget.settle(0.4, None, "judge:j")  # unknown actual: the reservation is counted
    assert budget.spent == {"generation": 0.1, "judge:j": 0.4}
    assert budget.reserved_usd == pytest.approx(0.0)
    assert Budget().reserve(None, "generation")  # no cap: anything goes
    assert not Budget(5.0).reserve(None, "generation")  # a cap and an unknown cost: refused
    assert dollars(0.0123) == "$0.0123" and dollars(None) == "-"


def test_resumed_totals_add_up_and_the_estimate_says_if_it_fits() -> None:
    from runner.cost.estimate import ModelEstimate, format_estimate
    from runner.cost.spending import Spending

    spending = Spending()
    spending.tally.on_outcome(_outcome(1000, 100, cost_usd=0.00021))
    earlier = {"models": {"openai/gpt-4o-mini": {"results": 2, "cost_usd": 1.0, "unpriced": 0}}}
    models = spending.as_dict(earlier)["models"]
    assert models["openai/gpt-4o-mini"]["results"] == 3
    assert models["openai/gpt-4o-mini"]["cost_usd"] == pytest.approx(1.0 + 0.00021)
    assert spending.as_dict("not a dict")["models"]["openai/gpt-4o-mini"]["results"] == 1
    row = ModelEstimate("openai/m", prompts=2, online_usd=0.5, batch_usd=0.25)
    assert "$0.5000 is over max_cost_usd=$0.1000" in "\n".join(format_estimate([row], 0.1))
    assert "fits in" in "\n".join(format_estimate([row], 1.0))
