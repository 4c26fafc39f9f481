"""Refused keys (runner/engine/rejections.py): a 401 stops the key, a 403 the key's model."""

from __future__ import annotations

from runner.engine.rejections import Rejections
from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord


def record(api: str = "openai", model: str | None = "gpt-a") -> PromptRecord:
    data: dict[str, object] = {"id": 1, "api": api, "prompt": "hi"}
    if model is not None:
        data["model_name"] = model
    return PromptRecord(data)


# The credential of a record depends on its api (and model): one key per api here.
def by_key(rec: PromptRecord) -> str:
    return f"fp-{rec.api}"


def error(status: int, prompt_only: bool = False) -> ProviderError:
    return ProviderError(f"HTTP {status}", ErrorKind.FATAL, status, prompt_only=prompt_only)


def test_nothing_is_blocked_before_a_refusal() -> None:
    calls: list[PromptRecord] = []

    def credential(rec: PromptRecord) -> str:
        calls.append(rec)
        return "fp"

    rejections = Rejections(credential)
    assert rejections.blocked(record()) is None
    assert calls == []  # no fingerprint computed on the usual path


def test_a_401_blocks_every_model_sent_with_that_key_only() -> None:
    rejections = Rejections(by_key)
    rejections.note(record(model="gpt-a"), error(401))
    blocked = rejections.blocked(record(model="gpt-b"))
    assert blocked is not None
    assert blocked.kind is ErrorKind.FATAL and blocked.status == 401
    assert "rejected the API key" in blocked.message and "resume" in blocked.message
    assert rejections.blocked(record(api="azure-openai")) is None


def test_a_403_blocks_that_model_with_that_key_only() -> None:
    rejections = Rejections(by_key)
    rejections.note(record(model="gpt-a"), error(403))
    blocked = rejections.blocked(record(model="gpt-a"))
    assert blocked is not None and blocked.status == 403
    assert "gpt-a" in blocked.message
    assert rejections.blocked(record(model="gpt-b")) is None
    assert rejections.blocked(record(api="azure-openai", model="gpt-a")) is None


def test_a_refusal_about_the_prompt_alone_blocks_nothing() -> None:
    rejections = Rejections(by_key)
    rejections.note(record(), error(403, prompt_only=True))
    assert rejections.blocked(record()) is None


def test_other_errors_block_nothing() -> None:
    rejections = Rejections(by_key)
    for status in (400, 404, 429, 500):
        rejections.note(record(), error(status))
    rejections.note(record(), ProviderError("timed out", ErrorKind.RETRYABLE))
    assert rejections.blocked(record()) is None


def test_the_first_refusal_is_kept_and_the_key_never_named() -> None:
    rejections = Rejections(by_key)
    rejections.note(record(model="gpt-a"), error(401))
    rejections.note(record(model="gpt-b"), error(401))
    blocked = rejections.blocked(record(model="gpt-c"))
    assert blocked is not None
    assert "gpt-a" in blocked.message  # first seen with
    assert "fp-openai" not in blocked.message


def test_the_credential_is_resolved_once_per_api_and_model() -> None:
    calls: list[tuple[str, str | None]] = []

    def credential(rec: PromptRecord) -> str:
        calls.append((rec.api, rec.model_name))
        return "fp"

    rejections = Rejections(credential)
    rejections.note(record(), error(401))
    for _ in range(5):
        assert rejections.blocked(record()) is not None
    assert rejections.blocked(record(model=None)) is not None
    assert calls == [("openai", "gpt-a"), ("openai", None)]
