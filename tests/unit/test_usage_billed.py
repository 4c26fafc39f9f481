"""Issue 20 items 1, 2 and 4: every usage count a provider bills, and cost equal to the bill.

Each provider's usage block is the one its API reference documents (URL beside each body),
with the issue's figures in it; llmock's carry no cached or reasoning counts, so the
end-to-end tests answer them from an in-test server (tests/usage_server.py). Expected costs
are the providers' arithmetic, worked by hand at the rates genai-prices 0.2.3 bundles
(USD per million tokens, written beside each).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.batch import anthropic_shapes as anthropic_batch
from runner.batch import openai as openai_batch
from runner.config.schema import RunConfig
from runner.cost.price_memo import PriceMemo
from runner.cost.prices import Price, PriceBook
from runner.limits.quota import Accounting, Counts, Limit, Metered, TokenEstimate
from runner.output.results import Outcome, full_line, result_line
from runner.prompts.records import PromptRecord
from runner.providers.anthropic import AnthropicProvider, parse_message
from runner.providers.base import Completion, ProviderContext
from runner.providers.gemini import parse_generate_content
from runner.providers.ollama import parse_ollama
from runner.providers.openai import parse_chat_completion
from runner.providers.usage import read_usage, read_with_genai_prices
from runner.providers.usage_paths import compiled_paths

M = 1_000_000


# https://platform.openai.com/docs/api-reference/chat/object (usage, with its details
# objects; cached tokens: https://platform.openai.com/docs/guides/prompt-caching).
OPENAI_CHAT: dict[str, Any] = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 800, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 400,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
}


# gpt-4o-mini: input 0.15, cached input 0.075, output 0.60 (reasoning billed as output).
OPENAI_BILL = (200 * 0.15 + 800 * 0.075 + 500 * 0.60) / M  # the 0.00039


# https://platform.openai.com/docs/api-reference/responses/object (usage).
RESPONSES_USAGE: dict[str, Any] = {
    "usage": {
        "input_tokens": 1000,
        "input_tokens_details": {"cached_tokens": 800},
        "output_tokens": 500,
        "output_tokens_details": {"reasoning_tokens": 400},
        "total_tokens": 1500,
    }
}


# o4-mini: input 1.10, cached input 0.275, output 4.40.
RESPONSES_BILL = (200 * 1.10 + 800 * 0.275 + 500 * 4.40) / M


# https://learn.microsoft.com/en-us/azure/ai-foundry/openai/how-to/prompt-caching (its
# example usage block: prompt 1566 with 1408 cached, completion 1518 with 576 reasoning).
AZURE_USAGE: dict[str, Any] = {
    "usage": {
        "completion_tokens": 1518,
        "prompt_tokens": 1566,
        "total_tokens": 3084,
        "completion_tokens_details": {"reasoning_tokens": 576},
        "prompt_tokens_details": {"cached_tokens": 1408},
    }
}


# azure gpt-4o-mini: input 0.15, cached input 0.075, output 0.60.
AZURE_BILL = (158 * 0.15 + 1408 * 0.075 + 1518 * 0.60) / M


# https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching (tracking cache
# performance: input_tokens excludes cache_creation_input_tokens and cache_read_input_tokens).
ANTHROPIC_MESSAGE: dict[str, Any] = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Paris."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 200,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 5000,
        "output_tokens": 300,
    },
}


# claude-3-5-haiku: input 0.80, cache write (5 min) 1.00, cache read 0.08, output 4.00.
ANTHROPIC_BILL = (200 * 0.80 + 1000 * 1.00 + 5000 * 0.08 + 300 * 4.00) / M  # 0.00276


# https://ai.google.dev/api/generate-content#UsageMetadata (promptTokenCount includes the
# cached content; thoughtsTokenCount is billed as output beside candidatesTokenCount).
GEMINI_RESPONSE: dict[str, Any] = {
    "candidates": [
        {
            "content": {"parts": [{"text": "Paris."}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 1000,
        "candidatesTokenCount": 100,
        "totalTokenCount": 2000,
        "cachedContentTokenCount": 600,
        "thoughtsTokenCount": 900,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 600}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mA5XaKbbBveGz7IP7LGMkAs",
}


# gemini-2.5-flash: input 0.30, cached input 0.03, output (thoughts too) 2.50.
GEMINI_BILL = (400 * 0.30 + 600 * 0.03 + 1000 * 2.50) / M  # the 0.00264 (0.002638)


# https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/GenerateContentResponse
# (UsageMetadata: toolUsePromptTokenCount is input, billed beside promptTokenCount).
VERTEX_RESPONSE: dict[str, Any] = {
    **GEMINI_RESPONSE,
    "usageMetadata": {
        "promptTokenCount": 1000,
        "candidatesTokenCount": 100,
        "toolUsePromptTokenCount": 200,
        "thoughtsTokenCount": 900,
        "cachedContentTokenCount": 600,
        "totalTokenCount": 2200,
        "trafficType": "ON_DEMAND",
    },
}


VERTEX_BILL = (600 * 0.30 + 600 * 0.03 + 1000 * 2.50) / M


def _book(tmp_path: Path) -> PriceBook:
    return PriceBook(memo=PriceMemo(tmp_path / "memo.json"))


def _cost(
    tmp_path: Path, api: str, model: str, completion: Completion, batch_id: str | None = None
) -> float | None:
    record = PromptRecord({"api": api, "model_name": model, "prompt": "q"})
    outcome = Outcome(record, "g", 1, completion=completion, batch_id=batch_id)
    return _book(tmp_path).outcome_cost(outcome)


def _counts(completion: Completion) -> tuple[int | None, ...]:
    return (
        completion.input_tokens,
        completion.cached_input_tokens,
        completion.cache_write_tokens,
        completion.output_tokens,
        completion.reasoning_tokens,
    )


def test_openai_chat_counts_cached_and_reasoning_and_costs_the_bill(tmp_path: Path) -> None:
    completion = parse_chat_completion(OPENAI_CHAT)
    assert _counts(completion) == (1000, 800, None, 500, 400)
    cost = _cost(tmp_path, "openai", "gpt-4o-mini", completion)
    assert cost == pytest.approx(OPENAI_BILL, abs=1e-9)
    assert cost == pytest.approx(0.00039, abs=1e-9)  # not the 0.00045 of input at full price


def test_openai_responses_usage_is_read_and_priced(tmp_path: Path) -> None:
    completion = read_usage(RESPONSES_USAGE, "openai", "responses").fill(Completion(text=""))
    assert _counts(completion) == (1000, 800, None, 500, 400)
    cost = _cost(tmp_path, "openai", "o4-mini", completion)
    assert cost == pytest.approx(RESPONSES_BILL, abs=1e-9)


def test_azure_usage_is_read_and_priced(tmp_path: Path) -> None:
    completion = parse_chat_completion({**OPENAI_CHAT, **AZURE_USAGE}, "azure")
    assert _counts(completion) == (1566, 1408, None, 1518, 576)
    cost = _cost(tmp_path, "azure-openai", "gpt-4o-mini", completion)
    assert cost == pytest.approx(AZURE_BILL, abs=1e-9)


def test_anthropic_input_is_billed_with_cache_writes_and_reads(tmp_path: Path) -> None:
    completion = parse_message(ANTHROPIC_MESSAGE)
    assert _counts(completion) == (6200, 5000, 1000, 300, None)
    cost = _cost(tmp_path, "anthropic", "claude-3-5-haiku-latest", completion)
    assert cost == pytest.approx(ANTHROPIC_BILL, abs=1e-9)
    assert cost == pytest.approx(0.00276, abs=1e-9)  # not the 0.00136 of 200 input tokens


def test_anthropic_1h_cache_writes_cost_their_own_rate(tmp_path: Path) -> None:
    usage = {
        **ANTHROPIC_MESSAGE["usage"],
        "cache_creation": {"ephemeral_5m_input_tokens": 600, "ephemeral_1h_input_tokens": 400},
    }
    completion = parse_message({**ANTHROPIC_MESSAGE, "usage": usage})
    assert completion.cache_write_tokens == 1000 and completion.cache_write_1h_tokens == 400
    # 1 h writes: 1.60 (claude-3-5-haiku), 5 min writes 1.00.
    bill = (200 * 0.80 + 600 * 1.00 + 400 * 1.60 + 5000 * 0.08 + 300 * 4.00) / M
    cost = _cost(tmp_path, "anthropic", "claude-3-5-haiku-latest", completion)
    assert cost == pytest.approx(bill, abs=1e-9)


def test_gemini_output_counts_thoughts_and_cached_input_is_discounted(tmp_path: Path) -> None:
    completion = parse_generate_content(GEMINI_RESPONSE, "gemini-2.5-flash")
    assert _counts(completion) == (1000, 600, None, 1000, 900)
    cost = _cost(tmp_path, "gemini", "gemini-2.5-flash", completion)
    assert cost == pytest.approx(GEMINI_BILL, abs=1e-9)
    assert cost == pytest.approx(0.00264, abs=1e-5)  # not the 0.00055 of 100 output tokens


def test_vertex_counts_tool_use_prompt_tokens_as_input(tmp_path: Path) -> None:
    completion = parse_generate_content(VERTEX_RESPONSE, "gemini-2.5-flash")
    assert _counts(completion) == (1200, 600, None, 1000, 900)
    cost = _cost(tmp_path, "vertexai", "gemini-2.5-flash", completion)
    assert cost == pytest.approx(VERTEX_BILL, abs=1e-9)


@pytest.mark.parametrize(
    ("body", "provider_id", "flavor"),
    [
        (OPENAI_CHAT, "openai", "chat"),
        (RESPONSES_USAGE, "openai", "responses"),
        (AZURE_USAGE, "azure", "chat"),
        (RESPONSES_USAGE, "azure", "responses"),
        (ANTHROPIC_MESSAGE, "anthropic", "default"),
        (GEMINI_RESPONSE, "google", "default"),
        (VERTEX_RESPONSE, "google", "default"),
        ({"usage": {"prompt_tokens": 3}}, "openai", "chat"),  # a required count missing
        ({"usage": {"prompt_tokens": -1, "completion_tokens": 2}}, "openai", "chat"),
        ({"usage": {"prompt_tokens": True, "completion_tokens": 2}}, "openai", "chat"),
        ({"usage": {"prompt_tokens": float("inf"), "completion_tokens": 2}}, "openai", "chat"),
        ({"usage": {"prompt_tokens": 3.0, "completion_tokens": 2}}, "openai", "chat"),
        ({"usageMetadata": {}}, "google", "default"),
        ({"model": "x"}, "anthropic", "default"),
    ],
)
def test_the_compiled_reader_reads_as_genai_prices_does(
    body: dict[str, Any], provider_id: str, flavor: str
) -> None:
    """runner walks genai-prices' own extractor paths (its walker is 5x slower): same counts."""
    assert compiled_paths(provider_id, flavor) is not None
    assert read_usage(body, provider_id, flavor) == read_with_genai_prices(
        body, provider_id, flavor
    )


def test_ollama_counts_are_read_by_hand() -> None:
    # https://github.com/ollama/ollama/blob/main/docs/api.md (generate: the final response)
    body = {"model": "llama3.2", "response": "Paris.", "done": True, "done_reason": "stop",
            "prompt_eval_count": 26, "eval_count": 290}  # fmt: skip
    assert _counts(parse_ollama(body, "llama3.2")) == (26, None, None, 290, None)


def test_a_body_without_usage_has_no_counts_and_an_unknown_cost(tmp_path: Path) -> None:
    body = {k: v for k, v in OPENAI_CHAT.items() if k != "usage"}
    completion = parse_chat_completion(body)
    assert _counts(completion) == (None,) * 5
    assert _cost(tmp_path, "openai", "gpt-4o-mini", completion) is None


def test_batch_results_count_and_cost_the_same_at_the_batch_price(tmp_path: Path) -> None:
    # https://platform.openai.com/docs/guides/batch (the output file's line)
    response = {"status_code": 200, "request_id": "req_123", "body": OPENAI_CHAT}
    line = {"id": "batch_req_123", "custom_id": "request-2", "response": response, "error": None}
    result = openai_batch.item_result(json.dumps(line))
    assert result is not None and result.completion is not None
    assert _counts(result.completion) == (1000, 800, None, 500, 400)
    cost = _cost(tmp_path, "openai", "gpt-4o-mini", result.completion, batch_id="b1")
    # gpt-4o-mini batch (genai-prices' batch prices): input 0.075, cached input 0.075 (no
    # cache discount on top of the batch one), output 0.30.
    assert cost == pytest.approx((1000 * 0.075 + 500 * 0.30) / M, abs=1e-9)
    # https://docs.anthropic.com/en/docs/build-with-claude/batch-processing (results)
    item = {"custom_id": "r1", "result": {"type": "succeeded", "message": ANTHROPIC_MESSAGE}}
    found = anthropic_batch.item_result(item)
    assert found.completion is not None
    assert _counts(found.completion) == (6200, 5000, 1000, 300, None)
    cost = _cost(tmp_path, "anthropic", "claude-haiku-4-5", found.completion, batch_id="b2")
    # claude-haiku-4-5 batch: input 0.50, cache write 0.625, cache read 0.05, output 2.50.
    bill = (200 * 0.50 + 1000 * 0.625 + 5000 * 0.05 + 300 * 2.50) / M
    assert cost == pytest.approx(bill, abs=1e-9)


def test_a_users_price_takes_cached_input_and_cache_write_prices(tmp_path: Path) -> None:
    price = Price(1.0, 4.0, cached_input_per_mtok=0.1, cache_write_per_mtok=1.25)
    book = PriceBook({"house": price}, memo=PriceMemo(tmp_path / "memo.json"))
    record = PromptRecord({"api": "anthropic", "model_name": "house", "prompt": "q"})
    completion = parse_message(ANTHROPIC_MESSAGE)
    cost = book.outcome_cost(Outcome(record, "g", 1, completion=completion))
    assert cost == pytest.approx((200 * 1.0 + 1000 * 1.25 + 5000 * 0.1 + 300 * 4.0) / M)
    batch = book.outcome_cost(Outcome(record, "g", 1, completion=completion, batch_id="b"))
    assert cost is not None and batch == pytest.approx(cost / 2)


def test_the_line_carries_every_count() -> None:
    record = PromptRecord({"id": "a", "api": "anthropic", "model_name": "m", "prompt": "q"})
    outcome = Outcome(record, "g", 1, completion=parse_message(ANTHROPIC_MESSAGE))
    line = result_line(outcome, run_id="r", experiment="e")
    assert "reasoning_tokens" not in line["usage"]  # not reported: left out, read as null
    assert full_line(line)["usage"] == {
        "input_tokens": 6200,
        "output_tokens": 300,
        "cached_input_tokens": 5000,
        "cache_write_tokens": 1000,
        "reasoning_tokens": None,
    }


def _anthropic() -> AnthropicProvider:
    return AnthropicProvider(ProviderContext(RunConfig()))


@pytest.mark.parametrize(
    ("model", "counted"),
    [("claude-haiku-4-5", 1200), ("claude-3-5-haiku-latest", 6200)],
)
def test_anthropic_input_limit_leaves_cache_reads_out(model: str, counted: int) -> None:
    usage = _anthropic().limit_usage(parse_message(ANTHROPIC_MESSAGE), model)
    assert (usage.input, usage.output) == (counted, 300)


class _Recorder:
    """A limiter that records what it is charged and corrected by."""

    def __init__(self) -> None:
        self.adjusted: list[float] = []

    async def acquire(self, cost: float = 1.0) -> None:
        return None

    async def adjust(self, delta: float) -> None:
        self.adjusted.append(delta)


@pytest.mark.parametrize(
    ("counts", "body", "model", "correction"),
    [
        # Gemini's billed output counts thoughts: 1000 used, 100 estimated.
        (Counts.OUTPUT_TOKENS, "gemini", "gemini-2.5-flash", 900),
        # Anthropic's ITPM: input and cache writes (1200), not the 5000 cache reads.
        (Counts.INPUT_TOKENS, "anthropic", "claude-haiku-4-5", 1190),
    ],
)
async def test_actual_accounting_settles_with_the_billed_counts(
    counts: Counts, body: str, model: str, correction: float
) -> None:
    limiter = _Recorder()
    metered = Metered(Limit(counts, 60_000, accounting=Accounting.ACTUAL), limiter)
    estimate = TokenEstimate(10, 100)
    completion = (
        parse_generate_content(GEMINI_RESPONSE, model)
        if body == "gemini"
        else parse_message(ANTHROPIC_MESSAGE)
    )
    await metered.settle(estimate, _anthropic().limit_usage(completion, model))
    assert limiter.adjusted == [correction]


async def test_a_multi_turn_prompt_sums_every_count() -> None:
    from runner.providers.messages import run_chat

    async def send(messages: list[dict[str, Any]]) -> Completion:
        return parse_message(ANTHROPIC_MESSAGE)

    total = await run_chat(["one", "two"], send)
    assert _counts(total) == (12400, 10000, 2000, 600, None)


def test_gemini_audio_input_costs_its_own_rate(tmp_path: Path) -> None:
    # https://ai.google.dev/api/generate-content#UsageMetadata (promptTokensDetails: a
    # ModalityTokenCount per modality); audio input has its own price.
    usage = {
        "promptTokenCount": 1000,
        "candidatesTokenCount": 100,
        "totalTokenCount": 1100,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 400},
            {"modality": "AUDIO", "tokenCount": 600},
        ],
    }
    completion = parse_generate_content({**GEMINI_RESPONSE, "usageMetadata": usage}, "m")
    assert completion.other_tokens == {"input_audio_tokens": 600}
    cost = _cost(tmp_path, "gemini", "gemini-2.5-flash", completion)
    # gemini-2.5-flash: text input 0.30, audio input 1.00, output 2.50.
    assert cost == pytest.approx((400 * 0.30 + 600 * 1.00 + 100 * 2.50) / M, abs=1e-9)


def test_openai_audio_counts_reach_the_line() -> None:
    usage = {
        **OPENAI_CHAT["usage"],
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 50},
    }
    completion = parse_chat_completion({**OPENAI_CHAT, "usage": usage})
    record = PromptRecord({"id": "a", "api": "openai", "model_name": "m", "prompt": "q"})
    line = result_line(Outcome(record, "g", 1, completion=completion), run_id="r", experiment="e")
    assert line["usage"]["other"] == {"input_audio_tokens": 50}
    assert line["usage"]["cached_input_tokens"] == 0


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize(
    ("api", "model"),
    [
        ("openai", "gpt-4o-mini"),
        ("openai", "o4-mini"),
        ("azure-openai", "gpt-4o-mini"),
        ("anthropic", "claude-3-5-haiku-latest"),
        ("anthropic", "claude-haiku-4-5"),
        ("gemini", "gemini-2.5-flash"),
        ("vertexai", "gemini-2.5-flash"),
    ],
)
def test_the_memo_rates_price_as_genai_prices_does(
    tmp_path: Path, api: str, model: str, batch: bool
) -> None:
    """Seven rates per model (from the memo, without genai-prices) give calc_price's figure."""
    from runner.cost.bundled import Tokens, ask_genai_prices

    provider = {"azure-openai": "azure", "gemini": "google", "vertexai": "google"}.get(api, api)
    exact = ask_genai_prices(provider, model, batch)
    assert exact is not None and exact.calc is not None
    memo = PriceMemo(tmp_path / "memo.json")
    _book(tmp_path).cost_of(api, model, 0, 0, batch=batch)  # fills the memo file
    book = PriceBook(memo=PriceMemo(memo.path))  # rates read back from the file
    for tokens in (
        Tokens(6200, 300, cache_read=5000, cache_write=1000, cache_write_1h=400),
        Tokens(1000, 1000, cache_read=600, reasoning=900),
        Tokens(123_457, 9_876, cache_read=100_000, cache_write=7, reasoning=5_000),
    ):
        got = book.cost_of(api, model, tokens.input, tokens.output, batch=batch, extra=tokens)
        assert got == pytest.approx(exact.calc(tokens), abs=1e-12), tokens


def test_counts_that_contradict_each_other_are_priced_by_their_totals(tmp_path: Path) -> None:
    """A tiered model's answer claiming more cache reads than input is not a crash."""
    completion = Completion(text="", input_tokens=100, output_tokens=10, cached_input_tokens=500)
    cost = _cost(tmp_path, "anthropic", "claude-sonnet-4-5", completion)
    # claude-sonnet-4-5 (up to 200k input): input 3.00, output 15.00.
    assert cost == pytest.approx((100 * 3.00 + 10 * 15.00) / M, abs=1e-9)


def test_linear_prices_of_contradicting_counts_are_the_totals(tmp_path: Path) -> None:
    completion = Completion(text="", input_tokens=100, output_tokens=10, cached_input_tokens=500)
    cost = _cost(tmp_path, "openai", "gpt-4o-mini", completion)
    assert cost == pytest.approx((100 * 0.15 + 10 * 0.60) / M, abs=1e-9)  # never negative
