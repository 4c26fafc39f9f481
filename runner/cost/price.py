"""A price the user gives (USD per million tokens), and an answer's usage as priced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from runner.cost.bundled import BATCH_DISCOUNT, MILLION, Tokens, consistent

if TYPE_CHECKING:
    from runner.config.schema import PriceConfig
    from runner.providers.completion import Completion


@dataclass(frozen=True)
class Price:
    """USD per million tokens, online and in batch mode.

    Cache reads and writes cost ``cached_input_per_mtok`` / ``cache_write_per_mtok`` when
    given (else the input price); reasoning costs the output price.
    """

    input_per_mtok: float
    output_per_mtok: float
    batch_input_per_mtok: float | None = None  # None: half the online price
    batch_output_per_mtok: float | None = None
    cached_input_per_mtok: float | None = None  # None: the input price
    cache_write_per_mtok: float | None = None  # None: the input price

    def cost(
        self,
        input_tokens: float,
        output_tokens: float,
        *,
        batch: bool,
        cache_read: float = 0.0,
        cache_write: float = 0.0,
    ) -> float:
        rate_in, rate_out = self.input_per_mtok, self.output_per_mtok
        rate_read = _or(self.cached_input_per_mtok, rate_in)
        rate_write = _or(self.cache_write_per_mtok, rate_in)
        if batch:
            batch_in = _or(self.batch_input_per_mtok, rate_in * BATCH_DISCOUNT)
            # The batch discount applies to cache reads and writes too (as Anthropic bills).
            scale = batch_in / rate_in if rate_in else BATCH_DISCOUNT
            rate_in, rate_read, rate_write = batch_in, rate_read * scale, rate_write * scale
            rate_out = _or(self.batch_output_per_mtok, rate_out * BATCH_DISCOUNT)
        uncached = input_tokens - cache_read - cache_write
        return (
            uncached * rate_in
            + cache_read * rate_read
            + cache_write * rate_write
            + output_tokens * rate_out
        ) / MILLION

    @classmethod
    def of(cls, config: PriceConfig) -> Price:
        return cls(
            float(config.input_per_mtok or 0.0),
            float(config.output_per_mtok or 0.0),
            config.batch_input_per_mtok,
            config.batch_output_per_mtok,
            config.cached_input_per_mtok,
            config.cache_write_per_mtok,
        )


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


@dataclass(frozen=True)
class OwnPrice:
    """The user's price, online or in batch mode (1 h cache writes at the write price)."""

    price: Price
    batch: bool

    def cost(self, tokens_in: float, tokens_out: float, extra: Tokens | None = None) -> float:
        # Parts larger than their totals (5,000 cached of 10 input) priced the uncached rest
        # negative: a line cost -$4.49 and freed the budget. Only the totals are priced then.
        if extra is None or not consistent(extra):
            return self.price.cost(tokens_in, tokens_out, batch=self.batch)
        return self.price.cost(
            tokens_in,
            tokens_out,
            batch=self.batch,
            cache_read=extra.cache_read,
            cache_write=extra.cache_write,
        )


def usage_tokens(completion: Completion, tokens_in: int, tokens_out: int) -> Tokens | None:
    """The whole usage of an answer with cache, reasoning or other counts (None: none)."""
    read, write = completion.cached_input_tokens, completion.cache_write_tokens
    reasoning, other = completion.reasoning_tokens, completion.other_tokens
    if not (read or write or reasoning or other):
        return None
    return Tokens(
        tokens_in,
        tokens_out,
        cache_read=read or 0,
        cache_write=write or 0,
        cache_write_1h=completion.cache_write_1h_tokens or 0,
        reasoning=reasoning or 0,
        other=other or None,
    )
