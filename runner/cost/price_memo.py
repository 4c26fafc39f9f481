"""genai-prices' answers, remembered on this machine: a run asks genai-prices only once.

Loading genai-prices (pydantic and its whole price table) takes ~0.15 s, more than the
rest of runner's start-up; a run needs a handful of its answers (a rate per model). Those
are kept in ``~/.cache/runner/genai-prices.json`` (``$XDG_CACHE_HOME``), valid for one UTC
day (a price may have a start date) and for one installed copy of genai-prices (the size
and time of its data file): another version, or another day, asks genai-prices again.

Only linear prices are kept (a base per request and a rate per token of each kind: input,
output, cache read, cache write, 1 h cache write, reasoning) and "no known price"; an entry
of another shape (an older runner's) is asked again. Tiered prices are not (genai-prices
computes each of those itself). A file that cannot be read or written is no error:
genai-prices is asked, as without a memo.

The usage readers' key paths (runner.providers.usage, compiled from genai-prices'
extractors) are kept beside the rates (``reader|<provider>|<flavor>``), for the same reason.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.errors import DiskFullError
from runner.output.disk import atomic_write_text
from runner.paths import runner_cache_home

MEMO_FILE = "genai-prices.json"
# A key's entry: [base, per input, output, cache read, cache write, 1 h cache write and
# reasoning token], or None (no known price).
Rates = list[float] | None
RATES_LEN = 7
# Keys of the usage readers' compiled paths (see runner.providers.usage.Compiled).
READER_PREFIX = "reader|"


def memo_path() -> Path:
    return runner_cache_home() / MEMO_FILE


def _source() -> str | None:
    """The installed genai-prices' data file, as size and time (None: not installed)."""
    spec = importlib.util.find_spec("genai_prices")
    if spec is None or spec.origin is None:
        return None
    try:
        stat = (Path(spec.origin).parent / "data.py").stat()
    except OSError:
        return None
    return f"{spec.origin}:{stat.st_size}:{stat.st_mtime_ns}"


class PriceMemo:
    """The remembered rates for today and this genai-prices, read once, saved when added to.

    Args:
        path: the memo file (default: :func:`memo_path`).
        today: the UTC day the rates are for (default: now).
    """

    def __init__(self, path: Path | None = None, today: str | None = None) -> None:
        self.path = path or memo_path()
        self._today = today
        self._rates: dict[str, Any] | None = None
        self._deferring = 0
        self._dirty = False

    @functools.cached_property
    def stamp(self) -> dict[str, str | None]:
        """What the rates hold for: this genai-prices and this UTC day (asked at first use)."""
        return {"source": _source(), "day": self._today or datetime.now(UTC).date().isoformat()}

    @staticmethod
    def key(api: str, model_name: str, batch: bool) -> str:
        return f"{api}|{model_name}|{'batch' if batch else 'online'}"

    def get(self, key: str) -> tuple[bool, Rates]:
        """(found, rates): whether ``key`` is remembered, and its rates (None: no price)."""
        rates = self._load()
        found = rates.get(key)
        return (key in rates, found if isinstance(found, list) else None)

    def get_reader(self, provider_id: str, flavor: str) -> tuple[bool, Any]:
        """(found, paths): a usage reader's compiled paths (None: genai-prices reads it)."""
        rates, key = self._load(), f"{READER_PREFIX}{provider_id}|{flavor}"
        return (key in rates, rates.get(key))

    def put_reader(self, provider_id: str, flavor: str, value: Any) -> None:
        """Remember a usage reader's compiled paths (JSON: lists) and save the memo."""
        self.put(f"{READER_PREFIX}{provider_id}|{flavor}", value)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Save once at the end of the block, not at each :meth:`put` in it.

        Saving rewrites the whole file: 100,000 models, each saved, took minutes.
        """
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
            if not self._deferring and self._dirty:
                self.save()

    def put(self, key: str, value: Any) -> None:
        """Remember ``value`` for ``key`` and save the memo (a failed save is ignored)."""
        rates = self._load()
        rates[key] = value
        self._dirty = True
        if not self._deferring:
            self.save()

    def save(self) -> None:
        """Write what is remembered (with what other runs saved meanwhile)."""
        self._dirty = False
        rates = self._load()
        if self.stamp["source"] is None:
            return
        # What other runs saved meanwhile is kept: two runs pricing other models both stay.
        rates.update({k: v for k, v in self._read().items() if k not in rates})
        with contextlib.suppress(OSError, DiskFullError):  # whole or not at all
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps({**self.stamp, "rates": rates}), "prices")

    def _load(self) -> dict[str, Any]:
        if self._rates is None:
            self._rates = self._read()
        return self._rates

    def _read(self) -> dict[str, Any]:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or any(data.get(k) != v for k, v in self.stamp.items()):
            return {}  # another day or another genai-prices: ask it again
        rates = data.get("rates")
        if not isinstance(rates, dict):
            return {}
        return {str(k): v for k, v in rates.items() if _valid(str(k), v)}


def _valid(key: str, value: Any) -> bool:
    if value is None:
        return True
    if key.startswith(READER_PREFIX):
        return _valid_reader(value)
    return (  # a rate that is negative, NaN or infinite is no price: it is asked again
        isinstance(value, list)
        and len(value) == RATES_LEN
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < math.inf
            for v in value
        )
    )


def _valid_reader(value: Any) -> bool:
    """[root path, [[path, field, required], ...]], paths being lists of strings."""

    def step(s: Any) -> bool:  # a key, or ["match", field, value]
        return isinstance(s, str) or (
            isinstance(s, list) and len(s) == 3 and all(isinstance(x, str) for x in s)
        )

    def path(p: Any) -> bool:
        return isinstance(p, list) and all(step(s) for s in p)

    if not (isinstance(value, list) and len(value) == 2 and path(value[0])):
        return False
    mappings = value[1]
    return isinstance(mappings, list) and all(
        isinstance(m, list)
        and len(m) == 3
        and path(m[0])
        and isinstance(m[1], str)
        and isinstance(m[2], bool)
        for m in mappings
    )
