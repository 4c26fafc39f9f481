"""Issue 13 item 9: runner's own costs per prompt and per command, kept off the hot path.

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_speed.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import servers


async def test_request_bodies_and_answers_go_through_wire_json(
    monkeypatch: pytest.MonkeyPatch, llmock_server: servers.Server
) -> None:
    """The engine session's HTTP session encodes bodies with it; post_json parses with it."""
    from runner import wire_json
    from runner.config.schema import RunConfig
    from runner.engine.session import engine_session
    from runner.providers.base import ProviderContext
    from runner.providers.http import post_json

    calls: list[str] = []
    dumps, loads = wire_json.dumps_bytes, wire_json.loads

    def counted_dumps(value: Any) -> bytes:
        calls.append("dumps")
        return dumps(value)

    def counted_loads(raw: bytes | str) -> Any:
        calls.append("loads")
        return loads(raw)

    monkeypatch.setattr(wire_json, "dumps_bytes", counted_dumps)
    monkeypatch.setattr(wire_json, "loads", counted_loads)
    context = ProviderContext(RunConfig())
    async with engine_session(context, lambda _o: None, apis=["openai"]) as _engine:
        assert context.session is not None
        body = await post_json(
            context.session,
            f"{llmock_server.url}/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": "Bearer test-key"},
            timeout=context.timeout,
        )
    assert body["choices"] and calls == ["dumps", "loads"]
