"""The Gemini batch adapter (batchGenerateContent, inline) against llmock, and a tiny server
speaking the documented operation shapes llmock does not (displayName, nested inlined
responses with metadata, per-item errors, failed and expired batches)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from runner.batch.adapter import BatchStatus
from runner.batch.gemini import GeminiBatches
from runner.errors import ErrorKind
from runner.providers.gemini import GeminiProvider
from tests import servers
from tests.batch_support import adapter_over, all_results, record, tiny_server, until_over
from tests.providers_support import llmock_bodies, unique_model

pytestmark = pytest.mark.integration


def _env(url: str) -> dict[str, str]:
    return {"GEMINI_API_KEY": "test-key", "GEMINI_BASE_URL": url}


async def test_a_batch_sends_what_generate_content_sends_and_ends_with_every_result(
    llmock_server: servers.Server,
) -> None:
    model = unique_model("gemini-batch")
    records = [
        record("gemini", model, 0, "hello", parameters={"temperature": 0.2}),
        record(
            "gemini",
            model,
            1,
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            safety_filter="none",
        ),
        record("gemini", model, 2, "three"),
    ]
    async with adapter_over(
        GeminiBatches, GeminiProvider, _env(f"{llmock_server.url}/gemini/v1beta")
    ) as adapter:
        lines = [adapter.request_line(r, f"c{i}") for i, r in enumerate(records)]
        await adapter.provider.complete(records[1])
        assert llmock_bodies(llmock_server, model) == [lines[1]["request"]]  # as online
        assert lines[0]["request"]["generationConfig"] == {"temperature": 0.2}

        tag = f"run-{model}-chunk-0"
        batch_id = await adapter.submit(model, lines, await adapter.upload(model, lines), tag)
        assert batch_id.startswith("batches/")
        assert await adapter.find(model, tag) == batch_id
        assert await adapter.find(model, "another run's tag") is None
        state = await until_over(adapter, model, batch_id)
        assert state.status is BatchStatus.ENDED and state.done == state.total == 3
        results = await all_results(adapter, model, batch_id)

        other = await adapter.submit(model, lines[:1], None, f"{tag}-cancelled")
        await adapter.cancel(model, other)
        assert (await adapter.poll(model, other)).status is BatchStatus.CANCELLED
        await adapter.cancel(model, other)  # already over: refused, and that is fine
    assert sorted(results) == ["c0", "c1", "c2"]
    for item in results.values():
        assert item.error is None and item.completion is not None
        assert item.completion.text and item.completion.output_tokens
        assert item.completion.finish_reason == "STOP"


def _answer(text: str) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2},
    }


class Documented:
    """Google's shapes: an Operation whose metadata is the GenerateContentBatch."""

    def __init__(self, state: str, *, echo_metadata: bool = True) -> None:
        self.state = state
        self.echo_metadata = echo_metadata
        self.created: list[dict[str, Any]] = []

    def _operation(self, i: int) -> dict[str, Any]:
        batch = self.created[i]["batch"]
        requests = batch["inputConfig"]["requests"]["requests"]
        outcomes: list[dict[str, Any]] = []
        for r in requests:
            text = r["request"]["contents"][0]["parts"][0]["text"]
            out: dict[str, Any] = (
                {"error": {"code": 8, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
                if text == "busy"
                else {"error": {"code": 3, "message": "bad", "status": "INVALID_ARGUMENT"}}
                if text == "bad"
                else {"response": {"promptFeedback": {"blockReason": "SAFETY"}}}
                if text == "blocked"
                else {"response": _answer(text.upper())}
            )
            if self.echo_metadata:
                out["metadata"] = r["metadata"]
            outcomes.append(out)
        if self.echo_metadata:
            outcomes.reverse()  # with keys back, the order does not matter
        if self.state == "BATCH_STATE_EXPIRED":
            outcomes = outcomes[:1]  # only what finished before the deadline
        stats = {"requestCount": str(len(requests)), "successfulRequestCount": "1"}
        metadata = {"displayName": batch["displayName"], "state": self.state, "batchStats": stats}
        operation: dict[str, Any] = {"name": f"batches/b{i}", "metadata": metadata}
        if self.state != "BATCH_STATE_RUNNING":
            operation["done"] = True
            operation["response"] = {"inlinedResponses": {"inlinedResponses": outcomes}}
        return operation

    def routes(self) -> list[tuple[str, str, Any]]:
        async def create(request: web.Request) -> web.Response:
            body = await request.json()
            if set(body) != {"batch"}:  # as Google: unknown fields are refused
                error = {"code": 400, "message": "Unknown name", "status": "INVALID_ARGUMENT"}
                return web.json_response({"error": error}, status=400)
            self.created.append(body)
            return web.json_response(self._operation(len(self.created) - 1))

        async def get(request: web.Request) -> web.Response:
            return web.json_response(self._operation(int(request.match_info["id"][1:])))

        async def listing(request: web.Request) -> web.Response:
            token = request.query.get("pageToken")
            ops = [self._operation(i) for i in range(len(self.created))]
            if token is None:  # one batch per page, newest first
                return web.json_response({"operations": ops[-1:], "nextPageToken": "p2"})
            return web.json_response({"operations": ops[:-1]})

        return [
            ("POST", "/models/{model}:batchGenerateContent", create),
            ("GET", "/batches/{id}", get),
            ("GET", "/batches", listing),
        ]


async def test_documented_shapes_keys_errors_and_find_by_display_name() -> None:
    server = Documented("BATCH_STATE_SUCCEEDED")
    prompts = ["fine", "busy", "bad", "blocked"]
    async with (
        tiny_server(server.routes()) as url,
        adapter_over(GeminiBatches, GeminiProvider, _env(url)) as adapter,
    ):
        lines = [
            adapter.request_line(record("gemini", "m", i, p), p) for i, p in enumerate(prompts)
        ]
        first = await adapter.submit("m", lines, None, "tag-one")
        second = await adapter.submit("m", lines[:1], None, "tag-two")
        assert server.created[0]["batch"]["displayName"] == "tag-one"
        assert (await adapter.find("m", "tag-one"), await adapter.find("m", "tag-two")) == (
            first,
            second,
        )  # the first is on the second page
        assert await adapter.find("m", "tag-three") is None
        state = await adapter.poll("m", first)
        got = await all_results(adapter, "m", first)
    assert state.status is BatchStatus.ENDED and state.total == 4
    assert got["fine"].completion is not None and got["fine"].completion.text == "FINE"
    kinds = {k: v.error.kind for k, v in got.items() if v.error is not None}
    assert kinds == {
        "busy": ErrorKind.RETRYABLE,  # RESOURCE_EXHAUSTED, as online
        "bad": ErrorKind.FATAL,
        "blocked": ErrorKind.FATAL,  # no candidates: the prompt was blocked
    }


@pytest.mark.parametrize(
    ("state", "status", "expected"),
    [
        ("BATCH_STATE_EXPIRED", BatchStatus.EXPIRED, ["one"]),
        ("BATCH_STATE_FAILED", BatchStatus.FAILED, ["one", "two"]),
    ],
)
async def test_responses_without_keys_go_by_position_and_ends_map(
    state: str, status: BatchStatus, expected: list[str]
) -> None:
    server = Documented(state, echo_metadata=False)
    async with (
        tiny_server(server.routes()) as url,
        adapter_over(GeminiBatches, GeminiProvider, _env(url)) as adapter,
    ):
        lines = [
            adapter.request_line(record("gemini", "m", i, p), p)
            for i, p in enumerate(["one", "two"])
        ]
        batch_id = await adapter.submit("m", lines, None, "t")
        assert (await adapter.poll("m", batch_id)).status is status
        got = await all_results(adapter, "m", batch_id)
    assert sorted(got) == expected
    assert all(v.completion is not None and v.completion.text == k.upper() for k, v in got.items())
