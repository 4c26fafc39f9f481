"""The cache key (what would be sent, never the API key), its occurrences, expected hits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.cache.key import canonical_json, request_key
from runner.config.schema import RunConfig
from runner.prompts.records import PromptRecord
from runner.providers.anthropic import AnthropicProvider
from runner.providers.base import ProviderContext
from runner.providers.openai import OpenAIProvider
from tests.providers_support import PNG_1X1

KEY = "sk-canary-never-in-the-key"


def _openai(url: str = "http://a.example/v1", **settings: Any) -> OpenAIProvider:
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": url}
    return OpenAIProvider(ProviderContext(RunConfig(**settings), env=env))


def _record(**extra: Any) -> PromptRecord:
    data = {"id": "a", "api": "openai", "model_name": "m", "prompt": "hi",
            "parameters": {"temperature": 0.2, "max_tokens": 5}}  # fmt: skip
    return PromptRecord({**data, **extra})


def test_the_key_is_what_is_sent_and_never_the_api_key() -> None:
    key = request_key(_record(), _openai())
    assert KEY not in canonical_json(key.parts)
    assert key.parts == {
        "api": "openai", "url": "http://a.example/v1", "model": "m", "prompt": "hi",
        "parameters": {"temperature": 0.2, "max_tokens": 5},
    }  # fmt: skip
    same = [
        _record(id="b", expected_response="x", note="not sent"),  # fields not sent
        _record(parameters={"max_tokens": 5, "temperature": 0.2, "stream": True, "user": "u"}),
    ]
    assert request_key(same[0], _openai()).digest == key.digest
    assert request_key(same[1], _openai()).digest == key.digest
    env = {"OPENAI_API_KEY": "sk-other", "OPENAI_BASE_URL": "http://a.example/v1"}
    other_key = OpenAIProvider(ProviderContext(RunConfig(), env=env))
    assert request_key(_record(), other_key).digest == key.digest  # the key is no part of it
    for changed in (_record(model_name="m2"), _record(prompt="hi!"),
                    _record(parameters={"temperature": 0.3, "max_tokens": 5})):  # fmt: skip
        assert request_key(changed, _openai()).digest != key.digest
    assert request_key(_record(), _openai("http://b.example/v1")).digest != key.digest


def test_provider_settings_that_shape_the_request_are_in_it() -> None:
    context = ProviderContext(RunConfig(), env={"ANTHROPIC_API_KEY": KEY})
    record = PromptRecord({"api": "anthropic", "model_name": "c", "prompt": "hi"})
    parts = request_key(record, AnthropicProvider(context)).parts
    assert parts["version"] == "2023-06-01" and parts["default_max_tokens"] == 1024
    assert "api_key" not in parts and KEY not in canonical_json(parts)


def test_a_media_file_is_keyed_by_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "p.png").write_bytes(PNG_1X1)
    provider = _openai(media_dir=str(tmp_path))
    prompt = [{"role": "user", "content": [{"type": "text", "text": "what?"},
                                           {"type": "image", "media": "p.png"}]}]  # fmt: skip
    before = request_key(_record(prompt=prompt), provider)
    (tmp_path / "p.png").write_bytes(PNG_1X1 + b"\0")
    after = request_key(_record(prompt=prompt), provider)
    assert before.digest != after.digest


def test_expected_hits_reads_without_writing(tmp_path: Path) -> None:
    from runner.cache.expect import expected_hits
    from runner.cache.store import CacheStore

    settings = RunConfig(cache="on", cache_dir=str(tmp_path / "c"))
    providers = {"openai": _openai()}
    records = [_record(), _record(id="b"), _record(id="c", prompt="other")]
    assert expected_hits(settings, records, providers) == {}  # no cache file yet
    assert not (tmp_path / "c").exists()
    store = CacheStore(tmp_path / "c")
    store.put(request_key(_record(), _openai()), {"text": "x"}, "r", 100.0)
    store.close()
    # One answer for the repeated request: its first occurrence hits, its second would not.
    assert expected_hits(settings, records, providers) == {("openai", "m"): 1}
    stale = RunConfig(cache_dir=str(tmp_path / "c"), cache_ttl="60")
    assert expected_hits(stale, records, providers, now=200.0) == {}
    off = RunConfig(cache_dir=str(tmp_path / "c"), cache="refresh")
    assert expected_hits(off, records, providers) == {}


async def test_a_resume_goes_on_counting_occurrences(tmp_path: Path) -> None:
    """A resumed run never takes an answer its first process already used."""
    from runner.cache.cache import ResponseCache
    from runner.output.results import Outcome
    from runner.providers.base import Completion

    def cache(resuming: bool) -> ResponseCache:
        return ResponseCache(tmp_path, "on", None, "run-1", lambda: 100.0, resuming=resuming)

    first = cache(False)
    for _ in range(2):
        claim = first.claim(_record(), _openai())
        assert await first.answer(claim, _record(), "g", None) is None  # a miss: send it
        first.remember(claim, Outcome(_record(), "g", 1, completion=Completion("x")))
    first.close()
    resumed = cache(True)
    assert resumed.claim(_record(), _openai()).key.occurrence == 2
    resumed.close()
    rerun = ResponseCache(tmp_path, "on", None, "run-2", lambda: 100.0)
    claims = [rerun.claim(_record(), _openai()) for _ in range(3)]
    assert [c.key.occurrence for c in claims] == [0, 1, 2]
    hits = [await rerun.answer(c, _record(), "g", None) for c in claims]
    assert [h is not None and h.cached for h in hits] == [True, True, False]
    rerun.close()
