"""cost_usd against the bill where a hostile prompt or server bends the arithmetic.

The bill is genai-prices' ``calc_price`` of each request's usage, as the provider bills
each request on its own.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from runner.config.compose import compose_settings
from runner.cost.budget import Budget
from runner.cost.ledger import Ledger
from runner.cost.price_memo import PriceMemo
from runner.cost.prices import Price, PriceBook
from runner.errors import ConfigError
from runner.limits.tokens import answer_tokens
from runner.output.money import dollars
from runner.output.results import Outcome
from runner.prompts.records import PromptRecord
from runner.providers.base import Completion
from runner.providers.completion import MAX_TOKEN_COUNT, token_count
from runner.providers.gemini import parse_generate_content
from runner.providers.messages import run_chat
from runner.providers.ollama import parse_ollama
from runner.providers.usage import NO_USAGE, read_usage, read_with_genai_prices


def _gemini_answer(prompt_tokens: int) -> dict[str, Any]:
    """A generateContent answer as https://ai.google.dev/api/generate-content documents it."""
    return {
        "candidates": [
            {"content": {"parts": [{"text": "ok"}], "role": "model"}, "finishReason": "STOP"}
        ],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": 100,
            "totalTokenCount": prompt_tokens + 100,
        },
        "modelVersion": "gemini-2.5-pro",
    }


def _bill(model: str, provider: str, *requests: tuple[int, int]) -> float:
    """What the provider bills: each request's usage priced on its own."""
    return sum(
        float(
            calc_price(
                Usage(input_tokens=i, output_tokens=o), model, provider_id=provider
            ).total_price
        )
        for i, o in requests
    )


async def test_a_conversation_is_priced_turn_by_turn_as_billed(tmp_path: Path) -> None:
    # Three turns of 150k, 160k and 170k prompt tokens: each request is under
    # gemini-2.5-pro's 200k long-context tier, their sum is not. The bill is $0.6030;
    # pricing the summed counts gave $1.2045, twice the bill.
    sizes = iter((150_000, 160_000, 170_000))

    async def send(messages: list[dict[str, Any]]) -> Completion:
        return parse_generate_content(_gemini_answer(next(sizes)), "gemini-2.5-pro")

    completion = await run_chat(["one", "two", "three"], send)
    record = PromptRecord({"api": "gemini", "model_name": "gemini-2.5-pro", "prompt": ["x"]})
    book = PriceBook(memo=PriceMemo(tmp_path / "memo.json"))
    cost = book.outcome_cost(Outcome(record, "g", 1, completion=completion))
    bill = _bill("gemini-2.5-pro", "google", (150_000, 100), (160_000, 100), (170_000, 100))
    assert cost == pytest.approx(bill) == pytest.approx(0.603)
    assert completion.input_tokens == 480_000  # the line's counts are still the sums


async def test_a_turn_without_usage_makes_the_conversation_cost_unknown(tmp_path: Path) -> None:
    # The second turn's answer reports no usage: its part of the bill is unknown, so the
    # whole is unknown (null), never the other turns' part alone as if it were the bill.
    answers = iter((_gemini_answer(1000), {**_gemini_answer(1000), "usageMetadata": None}))

    async def send(messages: list[dict[str, Any]]) -> Completion:
        return parse_generate_content(next(answers), "gemini-2.5-pro")

    completion = await run_chat(["one", "two"], send)
    record = PromptRecord({"api": "gemini", "model_name": "gemini-2.5-pro", "prompt": ["x"]})
    book = PriceBook(memo=PriceMemo(tmp_path / "memo.json"))
    assert book.outcome_cost(Outcome(record, "g", 1, completion=completion)) is None


@pytest.mark.parametrize(
    "price",
    [
        "{input_per_mtok:inf,output_per_mtok:1}",
        "{input_per_mtok:1,output_per_mtok:1e400}",
        "{input_per_mtok:1,output_per_mtok:1,cached_input_per_mtok:inf}",
    ],
)
def test_an_infinite_price_is_refused(price: str) -> None:
    # inf made every reservation NaN (0 cache-read tokens x inf): it never fit and was never
    # refused, so the run waited forever with nothing in flight.
    with pytest.raises(ConfigError, match="finite number of USD per million tokens"):
        compose_settings(["experiment=demo", f"prices={{m:{price}}}", "max_cost_usd=1"])


@pytest.mark.parametrize("usd", [float("nan"), float("inf")])
async def test_a_reservation_that_is_not_a_real_amount_is_refused_not_waited_on(
    usd: float,
) -> None:
    budget = Budget(1.0)
    assert not await asyncio.wait_for(budget.acquire(usd, lambda: False), 1.0)
    assert budget.exhausted and not budget.reserve(usd, "generation")


ABSURD = [10**20, 1e20, 1e300, MAX_TOKEN_COUNT + 1]


@pytest.mark.parametrize("count", ABSURD)
@pytest.mark.parametrize(
    ("body", "provider_id", "flavor"),
    [
        ({"usage": {"prompt_tokens": "N", "completion_tokens": 5}}, "openai", "chat"),
        ({"usage": {"input_tokens": "N", "output_tokens": 5}}, "openai", "responses"),
        ({"usage": {"input_tokens": 5, "output_tokens": "N"}}, "anthropic", "default"),
        ({"usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": "N"}}, "google",
         "default"),
    ],
)  # fmt: skip
def test_an_absurd_token_count_is_no_bill(
    body: dict[str, Any], provider_id: str, flavor: str, count: float
) -> None:
    # 1e300 prompt tokens priced an answer at $1.5e293, and counts near 2**63 overflowed
    # the report's sums; such a block is as unreadable as a negative count: cost unknown.
    body = json.loads(json.dumps(body).replace('"N"', json.dumps(count)))
    assert read_usage(body, provider_id, flavor) == NO_USAGE
    assert read_with_genai_prices(body, provider_id, flavor) == NO_USAGE


@pytest.mark.parametrize("count", ABSURD)
def test_an_absurd_count_is_dropped_from_a_completion_and_ollama(count: float) -> None:
    assert Completion(text="", input_tokens=count, output_tokens=count).input_tokens is None  # type: ignore[arg-type]
    body = {"model": "m", "response": "x", "done": True, "prompt_eval_count": count,
            "eval_count": 3}  # fmt: skip
    assert parse_ollama(body, "m").input_tokens is None
    assert token_count(count) is None
    assert token_count(MAX_TOKEN_COUNT) == MAX_TOKEN_COUNT  # the bound itself is a count


def test_usage_whose_parts_exceed_its_totals_is_priced_by_the_totals(tmp_path: Path) -> None:
    # 5,000 cached of 10 prompt tokens: with a user's cached price the uncached rest was
    # -4,990 tokens, a line cost -$4.485 and every answer freed room on the budget.
    body = _chat_usage(prompt_tokens=10, completion_tokens=5, cached=5000)
    completion = Completion(text="x")
    read_usage(body, "openai", "chat").fill(completion)
    record = PromptRecord({"api": "openai", "model_name": "house", "prompt": "q"})
    price = Price(1000.0, 1000.0, cached_input_per_mtok=100.0)
    book = PriceBook({"house": price}, memo=PriceMemo(tmp_path / "memo.json"))
    cost = book.outcome_cost(Outcome(record, "g", 1, completion=completion))
    assert cost == pytest.approx((10 + 5) * 1000 / 1_000_000)
    bundled = PriceBook(memo=PriceMemo(tmp_path / "memo.json"))
    mini = PromptRecord({"api": "openai", "model_name": "gpt-4o-mini", "prompt": "q"})
    found = bundled.outcome_cost(Outcome(mini, "g", 1, completion=completion))
    assert found == pytest.approx((10 * 0.15 + 5 * 0.6) / 1_000_000)  # gpt-4o-mini's rates


def _chat_usage(prompt_tokens: int, completion_tokens: int, cached: int) -> dict[str, Any]:
    """A usage block as https://platform.openai.com/docs/api-reference/chat/object shows it."""
    return {
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
    }


# -- a sweep's shared ledger -----------------------------------------------------------------


def test_a_job_killed_mid_write_leaves_the_sweeps_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ledger truncated its file, then wrote: a job killed between the two left it
    # empty, and every later job of the sweep read $0 spent (the cap began again).
    ledger = Ledger(tmp_path / "budget.json")
    ledger.settle(0.0, 3.0)

    def killed(*args: object) -> int:
        raise SystemExit("killed")

    monkeypatch.setattr("runner.cost.ledger.os.pwrite", killed)
    with pytest.raises(SystemExit):
        ledger.settle(0.0, 1.0)
    monkeypatch.undo()
    assert Ledger(tmp_path / "budget.json").spent() == 3.0


def test_a_hand_edited_ledger_is_read_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "budget.json"
    path.write_text(json.dumps({"spent_usd": "x", "held": {"zz:abc": 1.0, "00:": "y", "q": 2}}))
    ledger = Ledger(path)
    assert ledger.hold(0.5, 1.0) and ledger.spent() == 0.0
    ledger.settle(0.5, 0.25)
    assert Ledger(path).spent() == 0.25
    assert json.loads(path.read_text())["held"] == {}


def test_a_tiny_amount_is_shown_in_a_few_characters() -> None:
    assert dollars(1e-300) == "$1e-300" and dollars(0.0000123) == "$0.000012"
    assert dollars(1.5e-11) == "$0.000000000015" and dollars(1.5e-12) == "$1.5e-12"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"max_tokens": 100, "n": 8}, 800.0),
        ({"generationConfig": {"maxOutputTokens": 50, "candidateCount": 3}}, 150.0),
        ({"max_tokens": 100, "n": 1}, 100.0),
        ({"max_tokens": 100, "n": "x"}, 100.0),
        ({"n": 4}, 4 * 256.0),
    ],
)
def test_each_answer_asked_for_is_counted(params: dict[str, Any], expected: float) -> None:
    record = PromptRecord({"api": "openai", "model_name": "m", "prompt": "q", "parameters": params})
    assert answer_tokens(record, 256) == expected


def test_a_memo_with_negative_rates_is_asked_again(tmp_path: Path) -> None:
    # A memo file whose rates were edited or garbled (-1000 per token) priced every answer
    # below $0 and freed the budget; such an entry is not a price: genai-prices is asked.
    path = tmp_path / "memo.json"
    memo = PriceMemo(path)
    memo.put(PriceMemo.key("openai", "gpt-4o-mini", False), [0, -1e-3, -1e-3, 0, 0, 0, 0])
    book = PriceBook(memo=PriceMemo(path))
    assert book.cost_of("openai", "gpt-4o-mini", 1000, 1000, batch=False) == pytest.approx(
        (1000 * 0.15 + 1000 * 0.6) / 1_000_000
    )
