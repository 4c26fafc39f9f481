"""genai-prices' price of a model: its linear rates (remembered), or its own calculator.

genai-prices takes ~60 us a call and a run prices every answer, so a model's rates are read
once from genai-prices' own results (a million tokens of each kind: input, output, cache
read, cache write, 1 h cache write, reasoning) and kept in the price memo; a price with
tiers (long context), or an answer with other counts (audio, images, searches), is priced
by genai-prices' calculator itself. See runner.cost.prices for the rest of the pricing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loguru import logger

from runner.cost.price_memo import PriceMemo
from runner.providers.registry import price_provider

# What the providers document for their batch APIs when genai-prices has no batch price.
BATCH_DISCOUNT = 0.5
_BATCH_CONTEXT = {"processing": "batch"}
MILLION = 1_000_000


@dataclass(frozen=True)
class Tokens:
    """What an answer is priced on: its billed counts (see runner.providers.usage).

    ``input`` includes ``cache_read`` and ``cache_write`` (of which ``cache_write_1h`` was
    kept an hour); ``output`` includes ``reasoning``.
    """

    input: float
    output: float
    cache_read: float = 0.0
    cache_write: float = 0.0
    cache_write_1h: float = 0.0
    reasoning: float = 0.0
    # Other counts by genai-prices' usage key (audio, image, tool-use tokens, web searches):
    # genai-prices prices such an answer itself.
    other: Mapping[str, int] | None = None


@dataclass(frozen=True)
class Bundled:
    """A model's genai-prices price: linear rates when it has no tiers, else its calculator.

    Rates per token: input (uncached), output (not reasoning), cache read, cache write
    (5 min), 1 h cache write, reasoning; each read from genai-prices' own results.
    """

    base: float  # per request
    per_input: float
    per_output: float
    per_cache_read: float = 0.0
    per_cache_write: float = 0.0
    per_cache_write_1h: float = 0.0
    per_reasoning: float = 0.0
    # genai-prices' calculator (None: rates from the memo); used for every answer when the
    # price has tiers.
    calc: Callable[[Tokens], float] | None = None
    tiered: bool = False

    def cost(self, tokens_in: float, tokens_out: float, extra: Tokens | None = None) -> float:
        if self.tiered and self.calc is not None:
            return self.calc(extra or Tokens(tokens_in, tokens_out))
        if extra is None or not consistent(extra):  # the common case first, kept cheap
            return self.base + tokens_in * self.per_input + tokens_out * self.per_output
        return (
            self.base
            + (tokens_in - extra.cache_read - extra.cache_write) * self.per_input
            + extra.cache_read * self.per_cache_read
            + (extra.cache_write - extra.cache_write_1h) * self.per_cache_write
            + extra.cache_write_1h * self.per_cache_write_1h
            + (tokens_out - extra.reasoning) * self.per_output
            + extra.reasoning * self.per_reasoning
        )

    @classmethod
    def of_rates(cls, rates: Sequence[float]) -> Bundled:
        """The linear price of :meth:`rates`' list (as the memo keeps it)."""
        base, per_in, per_out, read, write, write_1h, reasoning = rates
        return cls(base, per_in, per_out, read, write, write_1h, reasoning)

    def rates(self) -> list[float]:
        return [
            self.base,
            self.per_input,
            self.per_output,
            self.per_cache_read,
            self.per_cache_write,
            self.per_cache_write_1h,
            self.per_reasoning,
        ]


def service_tier(params: Mapping[str, object]) -> str | None:
    """The processing tier a request asks for (OpenAI ``service_tier``: ``priority``,
    ``flex``), billed at its own rates; None: the standard one (``auto``, ``default``)."""
    tier = params.get("service_tier")
    return tier if isinstance(tier, str) and tier not in ("auto", "default") else None


def bundled(
    api: str, model_name: str, batch: bool, memo: PriceMemo, tier: str | None = None
) -> Bundled | None:
    """genai-prices' price of a model (None: it does not know it), remembered in ``memo``."""
    provider_id = price_provider(api)
    if provider_id is None or not model_name:
        return None
    key = PriceMemo.key(api, model_name, batch) + (f"|{tier}" if tier else "")
    known, rates = memo.get(key)
    if known:
        return None if rates is None else Bundled.of_rates(rates)
    found = ask_genai_prices(provider_id, model_name, batch, tier)
    if found is None or not found.tiered:
        memo.put(key, None if found is None else found.rates())
    return found


def ask_genai_prices(
    provider_id: str, model_name: str, batch: bool, tier: str | None = None
) -> Bundled | None:
    """genai-prices' price from its bundled data; None when it does not know the model.

    genai-prices takes ~60 us a call; a run prices every answer, so the rates are read once
    (from genai-prices' own results: a million tokens of each kind) and applied here,
    unless the price has tiers (long-context prices): then genai-prices prices each answer.
    """
    from genai_prices import Usage, data_snapshot
    from genai_prices.types import TieredPrices

    snapshot = data_snapshot.get_snapshot()
    try:
        provider, model = snapshot.find_provider_model(model_name, None, provider_id, None)
    except LookupError:
        return None
    now = datetime.now(tz=UTC)
    context, scale = _context(model.price_variants or (), batch, tier, now)

    def calc(tokens: Tokens) -> float:
        usage = Usage(
            input_tokens=round(tokens.input),
            output_tokens=round(tokens.output),
            cache_read_tokens=round(tokens.cache_read) or None,
            cache_write_tokens=round(tokens.cache_write) or None,
            cache_write_1h_tokens=round(tokens.cache_write_1h) or None,
            output_reasoning_tokens=round(tokens.reasoning) or None,
            **(tokens.other or {}),
        )
        try:
            found = model.calc_price(
                usage, provider, genai_request_timestamp=now, price_context=context
            )
        except ValueError as exc:  # counts that contradict each other (reads > input, ...)
            if tokens.input == tokens.output == 0 or _is_plain(tokens):
                raise
            logger.warning("{}: usage {} not priced in detail ({})", model_name, tokens, exc)
            return calc(Tokens(tokens.input, tokens.output))  # its totals, at least
        return float(found.total_price) * scale

    prices = model.get_prices(now, context)
    if any(isinstance(v, TieredPrices) for v in vars(prices).values()):
        return Bundled(0.0, 0.0, 0.0, calc=calc, tiered=True)
    m = MILLION
    base = calc(Tokens(0, 0))
    each = (
        Tokens(m, 0),
        Tokens(0, m),
        Tokens(m, 0, cache_read=m),
        Tokens(m, 0, cache_write=m),
        Tokens(m, 0, cache_write=m, cache_write_1h=m),
        Tokens(0, m, reasoning=m),
    )
    rates = [base, *((calc(tokens) - base) / m for tokens in each)]
    return dataclasses.replace(Bundled.of_rates(rates), calc=calc)


def _context(
    variants: Iterable[Any], batch: bool, tier: str | None, now: datetime
) -> tuple[dict[str, str] | None, float]:
    """genai-prices' price context of a request, and the scale of a batch price it lacks."""
    has_batch = batch and any(
        v.when == _BATCH_CONTEXT and (v.constraint is None or v.constraint.active(now))
        for v in variants
    )
    if has_batch:
        return _BATCH_CONTEXT, 1.0
    if batch:
        return None, BATCH_DISCOUNT
    if tier and any(v.when == {"service_tier": tier} for v in variants):
        return {"service_tier": tier}, 1.0  # priority costs about twice the standard rates
    return None, 1.0


def _is_plain(tokens: Tokens) -> bool:
    return not (
        tokens.cache_read
        or tokens.cache_write
        or tokens.cache_write_1h
        or tokens.reasoning
        or tokens.other
    )


def consistent(tokens: Tokens) -> bool:
    """Whether the parts fit in their totals (else only the totals are priced)."""
    return (
        tokens.cache_read + tokens.cache_write <= tokens.input
        and tokens.cache_write_1h <= tokens.cache_write
        and tokens.reasoning <= tokens.output
    )
