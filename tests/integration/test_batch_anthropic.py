"""The Anthropic batch adapter (Message Batches) against llmock, and a tiny server for the
item results llmock never gives (errored, canceled, expired)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from runner.batch import anthropic as batches
from runner.batch.adapter import BatchStatus
from runner.batch.anthropic import AnthropicBatches, tag_marker
from runner.errors import ErrorKind
from runner.providers.anthropic import AnthropicProvider
from tests import servers
from tests.batch_support import adapter_over, all_results, record, tiny_server, until_over
from tests.providers_support import llmock_bodies, unique_model

pytestmark = pytest.mark.integration


def _env(url: str) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": url}


async def test_a_batch_sends_what_complete_sends_and_ends_with_every_result(
    llmock_server: servers.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "WAIT_POLL_S", (0.3, 0.5))
    model = unique_model("claude-batch")
    records = [
        record("anthropic", model, 0, "hello", parameters={"max_tokens": 50, "temperature": 0.1}),
        record(
            "anthropic",
            model,
            1,
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        ),
        record("anthropic", model, 2, "streamed online", parameters={"stream": True}),
    ]
    async with adapter_over(
        AnthropicBatches, AnthropicProvider, _env(f"{llmock_server.url}/anthropic")
    ) as adapter:
        lines = [adapter.request_line(r, f"c{i}") for i, r in enumerate(records)]
        await adapter.provider.complete(records[1])
        online = llmock_bodies(llmock_server, model)
        assert online == [lines[1]["params"]]  # byte for byte what complete sent
        assert lines[0]["params"]["max_tokens"] == 50 and "stream" not in lines[2]["params"]
        assert lines[2]["params"]["max_tokens"] == 1024  # the online default

        tag = f"run-{model}-chunk-0"
        batch_id = await adapter.submit(model, lines, await adapter.upload(model, lines), tag)
        # Found while it runs: find waits for it to end, then reads its first result's marker.
        assert await adapter.find(model, tag) == batch_id
        assert await adapter.find(model, "another run's tag") is None
        state = await until_over(adapter, model, batch_id)
        assert state.status is BatchStatus.ENDED and state.done == state.total == 3
        results = await all_results(adapter, model, batch_id)
    assert sorted(results) == ["c0", "c1", "c2"]  # the tag marker is gone again
    for item in results.values():
        assert item.error is None and item.completion is not None
        assert item.completion.text and item.completion.model == model
        assert item.completion.output_tokens and item.completion.finish_reason


async def test_cancel_ends_the_batch_and_a_late_cancel_is_harmless(
    llmock_server: servers.Server,
) -> None:
    model = unique_model("claude-cancel")
    async with adapter_over(
        AnthropicBatches, AnthropicProvider, _env(f"{llmock_server.url}/anthropic")
    ) as adapter:
        lines = [adapter.request_line(record("anthropic", model, 0, "hi"), "c0")]
        batch_id = await adapter.submit(model, lines, None, "cancel-tag")
        await adapter.cancel(model, batch_id)
        state = await adapter.poll(model, batch_id)
        assert state.status is BatchStatus.CANCELLED
        await adapter.cancel(model, batch_id)  # already ended: refused, and that is fine
        assert await all_results(adapter, model, batch_id) == {}


def _message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "content": [{"type": "text", "text": text}],
        "model": "m",
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }


def _error(kind: str) -> dict[str, Any]:
    return {"type": "errored", "error": {"type": "error", "error": {"type": kind, "message": kind}}}


async def test_item_errors_are_classified_like_online_ones_and_unrun_items_come_back() -> None:
    sent: list[dict[str, Any]] = []
    outcomes = {
        "ok": {"type": "succeeded", "message": _message("fine")},
        "long": {
            "type": "succeeded",
            "message": _message("x" * 600_000),
        },  # over aiohttp readline cap (512 KiB)
        "bad": _error("invalid_request_error"),
        "busy": _error("overloaded_error"),
        "broke": _error("api_error"),
        "unpaid": _error("billing_error"),
        "stopped": {"type": "canceled"},
        "late": {"type": "expired"},
        "empty": {"type": "succeeded", "message": {"type": "message"}},
    }

    async def create(request: web.Request) -> web.Response:
        sent.extend((await request.json())["requests"])
        return web.json_response({"id": "msgbatch_1", "processing_status": "in_progress"})

    async def status(request: web.Request) -> web.Response:
        counts = {"processing": 0, "succeeded": 3, "errored": 4, "canceled": 1, "expired": 1}
        return web.json_response(
            {"id": "msgbatch_1", "processing_status": "ended", "request_counts": counts}
        )

    async def results(request: web.Request) -> web.Response:
        lines = [
            {"custom_id": s["custom_id"], "result": outcomes[s["params"]["messages"][0]["content"]]}
            for s in reversed(sent)  # results come in any order
        ]
        return web.Response(text="\n".join(json.dumps(x) for x in lines) + "\n")

    routes = [
        ("POST", "/v1/messages/batches", create),
        ("GET", "/v1/messages/batches/msgbatch_1", status),
        ("GET", "/v1/messages/batches/msgbatch_1/results", results),
    ]
    async with (
        tiny_server(routes) as url,
        adapter_over(AnthropicBatches, AnthropicProvider, _env(url)) as adapter,
    ):
        lines = [
            adapter.request_line(record("anthropic", "m", i, w), w) for i, w in enumerate(outcomes)
        ]
        batch_id = await adapter.submit("m", lines, None, "t")
        state = await adapter.poll("m", batch_id)
        got = await all_results(adapter, "m", batch_id)
    assert all(s["custom_id"].startswith(tag_marker("t")) for s in sent)
    assert state.status is BatchStatus.EXPIRED and state.done == state.total == 9
    assert got["ok"].completion is not None and got["ok"].completion.text == "fine"
    assert got["long"].completion is not None and len(got["long"].completion.text) == 600_000
    kinds = {k: v.error.kind for k, v in got.items() if v.error is not None}
    assert kinds == {
        "bad": ErrorKind.FATAL,
        "busy": ErrorKind.RETRYABLE,  # 529 overloaded, as online
        "broke": ErrorKind.RETRYABLE,
        "unpaid": ErrorKind.QUOTA,
        "stopped": ErrorKind.RETRYABLE,  # never ran: the next batch takes it
        "late": ErrorKind.RETRYABLE,
        "empty": ErrorKind.FATAL,
    }


async def test_find_pages_through_the_keys_batches_and_skips_other_runs() -> None:
    now = datetime.now(UTC).isoformat()
    ours, theirs = tag_marker("mine"), tag_marker("theirs")
    pages = {
        None: {"data": [{"id": "b3", "processing_status": "ended", "created_at": now}],
               "has_more": True, "last_id": "b3"},
        "b3": {"data": [{"id": "b2", "processing_status": "ended", "created_at": now},
                        {"id": "b1", "processing_status": "ended", "created_at": "2020-01-01"}],
               "has_more": True, "last_id": "b1"},
    }  # fmt: skip
    first_ids = {"b3": theirs + "x", "b2": ours + "y", "b1": ours + "z"}

    async def listing(request: web.Request) -> web.Response:
        return web.json_response(pages[request.query.get("after_id")])

    async def results(request: web.Request) -> web.Response:
        line = {"custom_id": first_ids[request.match_info["id"]], "result": {"type": "canceled"}}
        return web.Response(text=json.dumps(line) + "\n")

    routes = [
        ("GET", "/v1/messages/batches", listing),
        ("GET", "/v1/messages/batches/{id}/results", results),
    ]
    async with (
        tiny_server(routes) as url,
        adapter_over(AnthropicBatches, AnthropicProvider, _env(url)) as adapter,
    ):
        assert await adapter.find("m", "mine") == "b2"
        # b1 is older than results are kept: never looked at, so nothing is found.
        assert await adapter.find("m", "nobody") is None
