"""The bill and the cap against hostile servers: answers that are billed yet unreadable,
conversations whose turns are each billed on their own.

aimock's malformed chaos answers HTTP 200 with a body that is not JSON: the model ran, so a
provider bills it. llmock's Gemini route counts a prompt's tokens as its characters / 4, so
a long conversation reaches a model's long-context tier on the sum of its turns but not on
any one request.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from genai_prices import calc_price, extract_usage

from runner import run_experiment
from tests import servers
from tests.budget_support import DEAR, USD_PER_TOKEN, budget_of, overrides, serve
from tests.documented_server import documented_server
from tests.helpers import read_jsonl, run_cli, runner_env, write_jsonl
from tests.providers_support import aimock_journal

pytestmark = pytest.mark.integration


@pytest.fixture
def malformed_aimock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    """aimock answering every request HTTP 200 with a body that is not JSON."""
    folder = tmp_path_factory.mktemp("fixtures")
    catch_all = {"fixtures": [{"match": {}, "response": {"content": "ok from aimock"}}]}
    (folder / "zz-catch-all.json").write_text(json.dumps(catch_all))
    with servers.aimock(folder) as server:
        request = urllib.request.Request(
            f"{server.url}/__aimock/chaos",
            data=json.dumps({"malformedRate": 1.0}).encode(),
            headers={"content-type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        yield server


def test_an_unreadable_200_answer_is_charged_its_reservation(
    tmp_path: Path, malformed_aimock: servers.Server
) -> None:
    # Each of the 150 attempts below was answered 200 (billed, ~5 tokens: $0.005 at DEAR's
    # rate); runner charged each $0, so the run's bill reached ~$0.75 under a $0.20 cap while
    # run.json said $0 spent and the budget never stopped sending.
    records = [
        {"id": f"m{i}", "api": "openai", "model_name": "dear-model", "prompt": f"hi {i}",
         "parameters": {"max_tokens": 10}}
        for i in range(50)
    ]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 0.2
    result = run_experiment(
        "exp",
        overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "max_attempts=3", "cache=off"),
        env=runner_env(malformed_aimock.url),
    )
    answered = [e for e in aimock_journal(malformed_aimock) if e["response"]["status"] == 200]
    budget = budget_of(result.folder.path)
    assert budget["charged_unanswered"] == len(answered) > 0
    # Each attempt held at least what it is billed (aimock's answer: 5 tokens or more).
    assert budget["spent_usd"] >= len(answered) * 5 * USD_PER_TOKEN
    assert budget["spent_usd"] <= cap and budget["exhausted"]
    assert len(answered) < 150  # today: every prompt sent 3 times
    lines = read_jsonl(result.folder.completed)
    assert any(x["error_kind"] == "budget" for x in lines)


# -- a conversation's turns, each billed on its own ----------------------------------------

# (api, model, llmock's route prefix, genai-prices provider and flavor, apis.openai.endpoint)
DIALECTS = [
    ("openai", "gpt-5.4", "/v1", "openai", "chat", "chat"),
    ("openai", "gpt-5.4", "/v1", "openai", "responses", "responses"),
    ("anthropic", "claude-sonnet-4-5", "/anthropic", "anthropic", "default", "chat"),
    ("gemini", "gemini-2.5-pro", "/gemini/v1beta", "google", "default", "chat"),
]


@contextmanager
def recording_proxy(target: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A pass-through to ``target`` keeping every JSON body it answers (llmock's journal
    leaves large request bodies out, so its answers are kept on their way back)."""
    answers: list[dict[str, Any]] = []

    async def forward(request: web.Request) -> web.Response:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                target + request.path_qs, data=await request.read(), headers=request.headers
            ) as resp,
        ):
            raw, status = await resp.read(), resp.status
        if status == 200:
            answers.append(json.loads(raw))
        return web.Response(body=raw, status=status, content_type="application/json")

    app = web.Application(client_max_size=1 << 26)
    app.router.add_post("/{tail:.*}", forward)
    with serve(app) as url:
        yield url, answers


def _bill(answers: list[dict[str, Any]], model: str, provider: str, flavor: str) -> float:
    """The answers' usage bodies read and priced by genai-prices itself, each on its own."""
    bill = 0.0
    for body in answers:
        usage = extract_usage(body, provider_id=provider, api_flavor=flavor).usage
        bill += float(calc_price(usage, model, provider_id=provider).total_price)
    return bill


@pytest.mark.parametrize(("api", "model", "prefix", "provider", "flavor", "endpoint"), DIALECTS)
def test_a_long_conversation_costs_what_its_requests_are_billed(
    tmp_path: Path, api: str, model: str, prefix: str, provider: str, flavor: str, endpoint: str
) -> None:
    # Two turns of ~150k input tokens each: every request is under the model's long-context
    # tier (272k gpt-5.4, 200k the others), the two together are over it. Runner priced the
    # summed counts at the long-context rate: about twice the bill.
    long_turn = "word " * 120_000  # llmock counts characters / 4: 150k tokens
    records = [{"id": "c", "api": api, "model_name": model, "prompt": [long_turn, "and then?"],
                "parameters": {"max_tokens": 30}}]  # fmt: skip
    if api == "gemini":
        records[0]["parameters"] = {"maxOutputTokens": 30}
    elif model.startswith("gpt-5"):  # a reasoning model: max_tokens is refused
        records[0]["parameters"] = {"max_completion_tokens": 30}
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    with servers.llmock() as server, recording_proxy(server.url) as (proxy, answers):
        url, key = f"{proxy}{prefix}", "k"
        env = {"OPENAI_BASE_URL": url, "OPENAI_API_KEY": key, "ANTHROPIC_BASE_URL": url,
               "ANTHROPIC_API_KEY": key, "GEMINI_BASE_URL": url, "GEMINI_API_KEY": key}  # fmt: skip
        result = run_experiment(
            "exp",
            overrides(tmp_path, "cache=off", f"apis.openai.endpoint={endpoint}"),
            env=runner_env(**env),
        )
    bill = _bill(answers, model, provider, flavor)
    (line,) = read_jsonl(result.folder.completed)
    assert len(answers) == 2 and line["status"] == "ok"
    assert line["usage"]["input_tokens"] > 300_000
    assert line["cost_usd"] == pytest.approx(bill, rel=1e-6)
    run = json.loads(result.folder.meta.read_text())
    assert run["cost"]["total_usd"] == pytest.approx(bill, abs=1e-6)


# -- a usage block with absurd counts ------------------------------------------------------


def _chat_answer(prompt_tokens: int) -> dict[str, Any]:
    """A chat.completion as https://platform.openai.com/docs/api-reference/chat/object
    documents it, with the count under test in its usage block."""
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1741570283,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "Paris.", "refusal": None}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 5,
                  "total_tokens": prompt_tokens + 5},
    }  # fmt: skip


@pytest.mark.parametrize("count", [10**20, 2**63 - 1])
def test_an_absurd_token_count_is_no_bill_and_the_report_is_written(
    tmp_path: Path, count: int
) -> None:
    # Today 1e20 prompt tokens were taken for the bill ($15,000,000,000,000 a line), and
    # 2**63 - 1 overflowed the report's sums ("Conversion Error ... INT64": no report).
    records = [{"id": f"p{i}", "api": "openai", "model_name": "gpt-4o-mini", "prompt": "q",
                "parameters": {"max_tokens": 10}} for i in range(2)]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    with documented_server({"/v1/chat/completions": _chat_answer(count)}) as server:
        result = run_experiment(
            "exp",
            [*overrides(tmp_path, "cache=off"), "index=true"],
            env=runner_env(server.url),
        )
    assert result.exit_code == 0
    lines = read_jsonl(result.folder.completed)
    assert all(x.get("cost_usd") is None and x["status"] == "ok" for x in lines)
    run = json.loads(result.folder.meta.read_text())
    assert run["cost"]["total_usd"] is None and run["cost"]["tokens"]["input_tokens"] == 0
    assert (result.folder.path / "report.html").exists()


# -- answers without a bound ----------------------------------------------------------------


@pytest.fixture
def long_aimock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    """aimock answering every request with 8,000 characters (2,000 completion tokens)."""
    folder = tmp_path_factory.mktemp("fixtures")
    catch_all = {"fixtures": [{"match": {}, "response": {"content": "word " * 1600}}]}
    (folder / "zz-catch-all.json").write_text(json.dumps(catch_all))
    with servers.aimock(folder) as server:
        yield server


def test_answers_without_a_bound_are_reserved_at_the_longest_seen(
    tmp_path: Path, long_aimock: servers.Server
) -> None:
    # No max_tokens: each answer is reserved at output_tokens_estimate (256), and aimock
    # answers 2,000 tokens ($2.00 at DEAR's rate). Sixteen in flight took the bill to
    # $36.36 under max_cost_usd=10; now the first answer tells its shape's length.
    records = [{"id": f"u{i}", "api": "openai", "model_name": "dear-model",
                "prompt": f"tell me a long story {i}"} for i in range(200)]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 10.0
    with recording_proxy(long_aimock.url) as (proxy, answers):
        result = run_experiment(
            "exp",
            overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "max_concurrency=16", "cache=off"),
            env=runner_env(proxy),
        )
    bill = sum(
        (a["usage"]["prompt_tokens"] + a["usage"]["completion_tokens"]) * USD_PER_TOKEN
        for a in answers
    )
    assert len(answers) >= 2 and answers[0]["usage"]["completion_tokens"] == 2000
    assert bill <= cap
    assert budget_of(result.folder.path)["spent_usd"] == pytest.approx(bill, abs=1e-6)


def test_usage_whose_parts_exceed_its_totals_never_costs_less_than_nothing(
    tmp_path: Path,
) -> None:
    # A server reporting 5,000 cached of 10 prompt tokens: with a cached price each line
    # cost -$4.485, the run "spent" -$134.55 and sent all 30 prompts under a $0.20 cap.
    answer = _chat_answer(10)
    answer["usage"]["prompt_tokens_details"] = {"cached_tokens": 5000}
    records = [{"id": f"p{i}", "api": "openai", "model_name": "dear-model", "prompt": f"q{i}",
                "parameters": {"max_tokens": 10}} for i in range(30)]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    price = (
        "prices={dear-model:{input_per_mtok:1000,output_per_mtok:1000,cached_input_per_mtok:100}}"
    )
    with documented_server({"/v1/chat/completions": answer}) as server:
        result = run_experiment(
            "exp",
            overrides(tmp_path, price, "max_cost_usd=0.2", "cache=off"),
            env=runner_env(server.url),
        )
    bill = len(server.requests) * (10 + 5) * USD_PER_TOKEN  # its totals, at the full rates
    lines = read_jsonl(result.folder.completed)
    assert all(x["cost_usd"] >= 0 for x in lines)
    assert budget_of(result.folder.path)["spent_usd"] == pytest.approx(bill) and bill <= 0.2


# -- a conversation that fails after its first turn ---------------------------------------


@pytest.fixture
def second_turn_fails(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    """aimock answering a first turn, and HTTP 500 to the turn ``second turn``."""
    folder = tmp_path_factory.mktemp("fixtures")
    failing = {"fixtures": [{"match": {"userMessage": "second turn"}, "response": {
        "error": {"message": "server error", "type": "server_error"}, "status": 500}}]}  # fmt: skip
    catch_all = {"fixtures": [{"match": {}, "response": {"content": "word " * 400}}]}
    (folder / "10-failing.json").write_text(json.dumps(failing))
    (folder / "zz-catch-all.json").write_text(json.dumps(catch_all))
    with servers.aimock(folder) as server:
        yield server


def test_the_turns_of_a_failed_conversation_are_on_its_line(
    tmp_path: Path, second_turn_fails: servers.Server
) -> None:
    # Each of the 3 attempts got its first turn answered (billed, 500 output tokens) and a
    # 500 on its second: the line said $0 and run.json $0 while the bill was 3 first turns.
    prompt = ["first turn", "second turn"]
    records = [{"id": "c", "api": "openai", "model_name": "gpt-4o-mini", "prompt": prompt,
                "parameters": {"max_tokens": 600}}]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    with recording_proxy(second_turn_fails.url) as (proxy, answers):
        result = run_experiment(
            "exp", overrides(tmp_path, "max_attempts=3", "cache=off"), env=runner_env(proxy)
        )
    bill = _bill(answers, "gpt-4o-mini", "openai", "chat")
    (line,) = read_jsonl(result.folder.completed)
    assert line["status"] == "error" and line["attempts"] == 3 and len(answers) == 3
    assert line["cost_usd"] == pytest.approx(bill, rel=1e-6) and bill > 0
    run = json.loads(result.folder.meta.read_text())
    assert run["cost"]["total_usd"] == pytest.approx(bill, abs=1e-6)


# -- several answers to one request ---------------------------------------------------------


def test_n_answers_to_a_request_are_each_reserved(tmp_path: Path) -> None:
    # n=8 asks for 8 choices of up to 100 tokens, billed "across all of the choices"
    # (https://platform.openai.com/docs/api-reference/chat/create#chat-create-n); llmock
    # answers 8 choices but bills one, so this server answers the documented body with each
    # choice at its bound. Reserving one choice took the bill past the cap.
    answer = _chat_answer(20)
    message = answer["choices"][0]["message"]
    answer["choices"] = [
        {"index": i, "finish_reason": "length", "logprobs": None, "message": message}
        for i in range(8)
    ]
    answer["usage"].update(completion_tokens=800, total_tokens=820)
    records = [{"id": f"n{i}", "api": "openai", "model_name": "dear-model", "prompt": f"q{i}",
                "parameters": {"max_tokens": 100, "n": 8}} for i in range(40)]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    cap = 3.0
    with documented_server({"/v1/chat/completions": answer}) as server:
        result = run_experiment(
            "exp",
            overrides(tmp_path, DEAR, f"max_cost_usd={cap}", "max_concurrency=16", "cache=off"),
            env=runner_env(server.url),
        )
    bill = len(server.requests) * 820 * USD_PER_TOKEN
    assert len(server.requests) >= 2 and bill <= cap
    assert budget_of(result.folder.path)["spent_usd"] == pytest.approx(bill)


# -- a processing tier billed at its own rates ---------------------------------------------


@pytest.mark.parametrize(("tier", "endpoint"), [("priority", "chat"), ("flex", "responses")])
def test_a_processing_tier_is_priced_at_its_rates(tmp_path: Path, tier: str, endpoint: str) -> None:
    # service_tier=priority bills gpt-5.4 at twice the standard rates, flex at half
    # (https://platform.openai.com/docs/guides/priority-processing, genai-prices' variants):
    # runner priced every tier as standard, so a priority run's cost_usd was half its bill
    # and its reservations half what it spent.
    records = [{"id": f"t{i}", "api": "openai", "model_name": "gpt-5.4", "prompt": f"hi {i}",
                "parameters": {"max_completion_tokens": 50, "service_tier": tier}}
               for i in range(3)]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    with servers.llmock() as server, recording_proxy(server.url) as (proxy, answers):
        result = run_experiment(
            "exp",
            overrides(tmp_path, "cache=off", f"apis.openai.endpoint={endpoint}"),
            env=runner_env(proxy),
        )
    flavor = "chat" if endpoint == "chat" else "responses"
    bill = sum(
        float(
            calc_price(
                extract_usage(a, provider_id="openai", api_flavor=flavor).usage,
                "gpt-5.4",
                provider_id="openai",
                price_context={"service_tier": tier},
            ).total_price
        )
        for a in answers
    )
    lines = read_jsonl(result.folder.completed)
    assert len(answers) == 3 and all(x["status"] == "ok" for x in lines)
    assert sum(x["cost_usd"] for x in lines) == pytest.approx(bill, rel=1e-6)


@pytest.mark.parametrize(("asked", "served"), [("priority", "default"), (None, "priority")])
def test_the_tier_an_answer_says_served_it_is_the_one_priced(
    tmp_path: Path, asked: str | None, served: str
) -> None:
    # "the response body will include the service_tier value based on the processing mode
    # actually used to serve the request" (https://platform.openai.com/docs/api-reference/
    # chat/object#chat/object-service_tier): a priority request served at the default tier
    # is billed at the default rates, a project whose default is priority at priority's.
    answer = {**_chat_answer(1000), "model": "gpt-5.4", "service_tier": served}
    params: dict[str, Any] = {"max_completion_tokens": 50}
    if asked:
        params["service_tier"] = asked
    records = [{"id": "t", "api": "openai", "model_name": "gpt-5.4", "prompt": "q",
                "parameters": params}]  # fmt: skip
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    with documented_server({"/v1/chat/completions": answer}) as server:
        result = run_experiment("exp", overrides(tmp_path, "cache=off"), env=runner_env(server.url))
    usage = extract_usage(answer, provider_id="openai", api_flavor="chat").usage
    context = {"service_tier": served}
    bill = calc_price(usage, "gpt-5.4", provider_id="openai", price_context=context).total_price
    (line,) = read_jsonl(result.folder.completed)
    assert line["cost_usd"] == pytest.approx(float(bill), rel=1e-6)


@pytest.mark.integration
def test_one_prompt_over_the_whole_cap_is_refused_alone(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    # max_tokens 10**12 alone could cost more than max_cost_usd=1: before, it marked the
    # budget reached and the three prompts after it, which fit, were refused with it.
    rows = [{"id": "big", "parameters": {"max_tokens": 10**12}}]
    rows += [{"id": f"p{i}", "parameters": {"max_tokens": 50}} for i in range(3)]
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"prompt": "q", "api": "openai", "model_name": "gpt-4o-mini", **r} for r in rows],
    )
    out = run_cli(tmp_path, llmock_server.url, "experiment=exp", "run_id=r", "max_cost_usd=1")
    assert out.returncode == 1, out.stderr
    lines = {line["id"]: line for line in read_jsonl(tmp_path / "outputs/exp/r/completed.jsonl")}
    assert lines["big"]["error_kind"] == "budget"
    assert [lines[f"p{i}"]["status"] for i in range(3)] == ["ok"] * 3
    assert "1 not sent: each alone could cost more than max_cost_usd" in out.stdout
