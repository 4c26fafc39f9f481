"""The response cache on the request path: look up before any limit, store what succeeded.

One :class:`ResponseCache` per engine session (its mode, TTL, run and clock); the store,
the requests in flight and the occurrence counters are shared by every session of the
process that uses the same folder, so identical requests in flight at once (same key, same
process) are sent once: the first sends, the others wait for its answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner.cache.key import RequestKey, request_key
from runner.cache.store import CacheStore, Entry
from runner.config.cache_settings import cache_folder, check_mode, ttl_seconds
from runner.errors import ErrorKind, ProviderError
from runner.output.results import Outcome
from runner.prompts.records import PromptRecord
from runner.providers.base import Completion

if TYPE_CHECKING:
    from runner.config.schema import RunConfig
    from runner.providers.base import Provider

_Slot = tuple[str, int]  # (digest, occurrence)


@dataclass
class _Shared:
    """What every session of the process using one cache folder shares."""

    store: CacheStore
    users: int = 0
    in_flight: dict[_Slot, asyncio.Future[Entry | None]] = field(default_factory=dict)
    next_occurrence: dict[tuple[str, str], int] = field(default_factory=dict)


_OPEN: dict[Path, _Shared] = {}


@dataclass
class Claim:
    """A prompt's key, and the in-flight slot it owns while it is being sent."""

    key: RequestKey
    owned: asyncio.Future[Entry | None] | None = None


class ResponseCache:
    """The cache as one engine session uses it.

    Args:
        folder: where the store lives (shared with other sessions and processes).
        mode: on | refresh | only (off: no cache object at all).
        ttl_s: an entry older than this is a miss (None: never).
        run_id: the run asking (its lookups are kept for ``explain``; "" keeps none).
        resuming: the run goes on from an earlier process (occurrences continue).
        now: the wall clock in seconds (the engine's, so tests can move it).
    """

    def __init__(
        self,
        folder: Path,
        mode: str,
        ttl_s: float | None,
        run_id: str,
        now: Callable[[], float],
        *,
        resuming: bool = False,
    ) -> None:
        folder = folder.resolve()
        if folder not in _OPEN:
            _OPEN[folder] = _Shared(CacheStore(folder))
        self._folder = folder
        self._shared = _OPEN[folder]
        self._shared.users += 1
        self.mode = mode
        self.ttl_s = ttl_s
        self.run_id = run_id
        self.resuming = resuming
        self.now = now
        self.hits = 0
        self.misses = 0
        # Sessions with no run count occurrences on their own.
        self._local_counts: dict[str, int] = {}

    @property
    def store(self) -> CacheStore:
        return self._shared.store

    def claim(self, record: PromptRecord, provider: Provider) -> Claim:
        """The key of ``record``'s request, with its occurrence in this run."""
        key = request_key(record, provider)
        if not self.run_id:
            n = self._local_counts.get(key.digest, 0)
            self._local_counts[key.digest] = n + 1
            return Claim(key.nth(n))
        counters = self._shared.next_occurrence
        slot = (self.run_id, key.digest)
        if slot not in counters:
            counters[slot] = (
                self.store.occurrences_used(self.run_id, key.digest) if self.resuming else 0
            )
        n = counters[slot]
        counters[slot] = n + 1
        return Claim(key.nth(n))

    async def answer(
        self, claim: Claim, record: PromptRecord, group: str, tag: Any
    ) -> Outcome | None:
        """A cached outcome, an only-mode miss, or None: send it (``claim`` then owns it)."""
        key = claim.key
        slot = (key.digest, key.occurrence)
        in_flight = self._shared.in_flight
        while slot in in_flight:  # the same request is on the wire: wait for its answer
            entry = await asyncio.shield(in_flight[slot])
            if entry is not None:
                return self._hit(claim, record, group, tag, entry)
        result = "refresh"
        if self.mode != "refresh":
            entry = self.store.get(key.digest, key.occurrence)
            if entry is not None and not self._expired(entry):
                return self._hit(claim, record, group, tag, entry)
            result = "miss" if entry is None else "expired"
        self.misses += 1
        self.store.note_lookup(self.run_id, record.key, key, result, self.now())
        if self.mode == "only":
            return self._only_miss(record, group, tag, result)
        claim.owned = asyncio.get_running_loop().create_future()
        in_flight[slot] = claim.owned
        return None

    def remember(self, claim: Claim, outcome: Outcome) -> None:
        """After an attempt: store a success (errors never), and free the in-flight slot."""
        entry: Entry | None = None
        if outcome.ok and outcome.completion is not None:
            answer = _answer(outcome)
            at = self.now()
            self.store.put(claim.key, answer, self.run_id, at)
            entry = Entry(answer, at, self.run_id)
        self.release(claim, entry)

    def release(self, claim: Claim, entry: Entry | None = None) -> None:
        """Free the slot ``claim`` owns (waiters get ``entry``; None: they send themselves)."""
        owned, claim.owned = claim.owned, None
        if owned is None:
            return
        slot = (claim.key.digest, claim.key.occurrence)
        if self._shared.in_flight.get(slot) is owned:
            del self._shared.in_flight[slot]
        if not owned.done():
            owned.set_result(entry)

    def close(self) -> None:
        """Commit what waits; the last session of the process closes the store."""
        shared = self._shared
        shared.users -= 1
        if self.hits or self.misses:
            logger.debug(
                "Response cache: {} hit(s), {} miss(es) (cache={})",
                self.hits,
                self.misses,
                self.mode,
            )
        if shared.users > 0:
            shared.store.flush()
            return
        del _OPEN[self._folder]
        shared.store.close()

    # -- helpers ---------------------------------------------------------------------------

    def _expired(self, entry: Entry) -> bool:
        return self.ttl_s is not None and self.now() - entry.created > self.ttl_s

    def _hit(
        self, claim: Claim, record: PromptRecord, group: str, tag: Any, entry: Entry
    ) -> Outcome:
        self.hits += 1
        self.store.note_lookup(self.run_id, record.key, claim.key, "hit", self.now())
        answer = entry.answer
        completion = Completion(
            text=answer["text"],
            input_tokens=answer.get("input_tokens"),
            output_tokens=answer.get("output_tokens"),
            finish_reason=answer.get("finish_reason"),
            model=answer.get("model"),
            thinking=answer.get("thinking"),
            tool_calls=answer.get("tool_calls"),
            cached_input_tokens=answer.get("cached_input_tokens"),
            cache_write_tokens=answer.get("cache_write_tokens"),
            reasoning_tokens=answer.get("reasoning_tokens"),
            cache_write_1h_tokens=answer.get("cache_write_1h_tokens"),
            other_tokens=answer.get("other_tokens"),
        )
        return Outcome(
            record,
            group,
            0,  # nothing was sent this time
            completion=completion,
            sent_at=_moment(answer.get("sent_at")),
            received_at=_moment(answer.get("received_at")),
            latency_s=answer.get("latency_s"),
            tag=tag,
            cached=True,
        )

    def _only_miss(self, record: PromptRecord, group: str, tag: Any, result: str) -> Outcome:
        why = "its answer is older than cache_ttl" if result == "expired" else "it is not cached"
        error = ProviderError(
            f"not sent (cache=only) and {why}; run with cache=on to send it", ErrorKind.FATAL
        )
        return Outcome(record, group, 0, error=error, error_kind="cache_miss", tag=tag)


def _answer(outcome: Outcome) -> dict[str, Any]:
    completion = outcome.completion
    assert completion is not None
    return {
        "text": completion.text,
        "input_tokens": completion.input_tokens,
        "output_tokens": completion.output_tokens,
        "finish_reason": completion.finish_reason,
        "model": completion.model,
        "thinking": completion.thinking,
        "tool_calls": completion.tool_calls,
        "cached_input_tokens": completion.cached_input_tokens,
        "cache_write_tokens": completion.cache_write_tokens,
        "reasoning_tokens": completion.reasoning_tokens,
        "cache_write_1h_tokens": completion.cache_write_1h_tokens,
        "other_tokens": completion.other_tokens,
        "latency_s": outcome.latency_s,
        "sent_at": None if outcome.sent_at is None else outcome.sent_at.isoformat(),
        "received_at": None if outcome.received_at is None else outcome.received_at.isoformat(),
    }


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def open_cache(settings: RunConfig, run_id: str, now: Callable[[], float]) -> ResponseCache | None:
    """The session's cache as the settings ask (None: ``cache=off``)."""
    if settings.cache == "off":
        return None
    return ResponseCache(
        cache_folder(settings.cache_dir),
        check_mode(settings.cache),
        ttl_seconds(settings.cache_ttl),
        run_id,
        now,
        resuming=bool(settings.resume),
    )
