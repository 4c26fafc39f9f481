"""How many prompts a run would answer from the cache now, for the dry-run estimate.

Read-only: the cache file is opened read-only (a missing one means no hits), nothing is
written. Occurrences are counted as a fresh run counts them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from runner.cache.key import request_key
from runner.cache.store import FILE_NAME
from runner.config.cache_settings import cache_folder, ttl_seconds
from runner.prompts.records import PromptRecord

if TYPE_CHECKING:
    from runner.config.schema import RunConfig
    from runner.providers.base import Provider


def expected_hits(
    settings: RunConfig,
    records: Iterable[PromptRecord],
    providers: Mapping[str, Provider],
    now: float | None = None,
) -> dict[tuple[str, str], int]:
    """Cache hits a run of ``records`` would get, per (api, model_name)."""
    hits: dict[tuple[str, str], int] = {}
    path = cache_folder(settings.cache_dir) / FILE_NAME
    if settings.cache in ("off", "refresh") or not path.exists():
        return hits
    ttl = ttl_seconds(settings.cache_ttl)
    oldest = None if ttl is None else (time.time() if now is None else now) - ttl
    seen: dict[str, int] = {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    try:
        for record in records:
            key = request_key(record, providers[record.api])
            n = seen.get(key.digest, 0)
            seen[key.digest] = n + 1
            row = db.execute(
                "SELECT created FROM entries WHERE digest = ? AND occurrence = ?",
                (key.digest, n),
            ).fetchone()
            if row is not None and (oldest is None or row[0] >= oldest):
                slot = (record.api, record.model_name or "")
                hits[slot] = hits.get(slot, 0) + 1
    finally:
        db.close()
    return hits
