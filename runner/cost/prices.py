"""What a request costs: genai-prices' bundled price data, or the user's own prices.

Prices come from ``genai-prices`` (pydantic's maintained, dated price data), always from
the data bundled with the pinned package: a run never fetches prices over the network, so
the same version prices the same usage the same way, offline. A price given in
``conf/model/<name>.yaml`` (``price:``) or in the run's ``prices`` setting wins over it.

How runner's apis map to genai-prices' providers (``API_PROVIDERS``): openai -> openai,
azure-openai -> azure, anthropic -> anthropic, gemini and vertexai -> google (Vertex AI
bills Gemini at the Gemini API's rates). ``local`` and ``ollama`` run on the user's own
machine and cost 0. ``huggingface-tgi`` has no per-token price (a TGI endpoint is billed by
the hour, or is the user's own): its cost is unknown (null) unless a price is given.

Batch price: genai-prices' own batch price when it has one (``processing: batch``), else
half the online price, as OpenAI, Azure, Anthropic and Google document for their batch APIs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from loguru import logger

from runner.cost.price_memo import PriceMemo
from runner.engine.quota import TokenEstimate
from runner.engine.tokens import estimate_split
from runner.prompts.records import PromptRecord

if TYPE_CHECKING:
    from runner.config.schema import PriceConfig, RunConfig
    from runner.output.results import Outcome

API_PROVIDERS = {
    "openai": "openai",
    "azure-openai": "azure",
    "anthropic": "anthropic",
    "gemini": "google",
    "vertexai": "google",
}
# Run on the user's own hardware: no bill per token.
FREE_APIS = frozenset({"local", "ollama"})
# What the providers document for their batch APIs when genai-prices has no batch price.
BATCH_DISCOUNT = 0.5
_BATCH_CONTEXT = {"processing": "batch"}
_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per million tokens, online and in batch mode."""

    input_per_mtok: float
    output_per_mtok: float
    batch_input_per_mtok: float | None = None  # None: half the online price
    batch_output_per_mtok: float | None = None

    def cost(self, input_tokens: float, output_tokens: float, *, batch: bool) -> float:
        rate_in, rate_out = self.input_per_mtok, self.output_per_mtok
        if batch:
            rate_in = _or(self.batch_input_per_mtok, rate_in * BATCH_DISCOUNT)
            rate_out = _or(self.batch_output_per_mtok, rate_out * BATCH_DISCOUNT)
        return (input_tokens * rate_in + output_tokens * rate_out) / _MILLION

    @classmethod
    def of(cls, config: PriceConfig) -> Price:
        return cls(
            float(config.input_per_mtok or 0.0),
            float(config.output_per_mtok or 0.0),
            config.batch_input_per_mtok,
            config.batch_output_per_mtok,
        )


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


@dataclass(frozen=True)
class _Bundled:
    """A model's genai-prices price: linear rates when it has no tiers, else its calculator."""

    base: float  # per request
    per_input: float
    per_output: float
    tiered: Callable[[int, int], float] | None = None

    def cost(self, tokens_in: float, tokens_out: float) -> float:
        if self.tiered is not None:
            return self.tiered(round(tokens_in), round(tokens_out))
        return self.base + tokens_in * self.per_input + tokens_out * self.per_output


def _bundled(api: str, model_name: str, batch: bool, memo: PriceMemo) -> _Bundled | None:
    """genai-prices' price of a model (None: it does not know it), remembered in ``memo``."""
    provider_id = API_PROVIDERS.get(api)
    if provider_id is None or not model_name:
        return None
    key = PriceMemo.key(api, model_name, batch)
    found, rates = memo.get(key)
    if found:
        return None if rates is None else _Bundled(rates[0], rates[1], rates[2])
    bundled = _ask_genai_prices(provider_id, model_name, batch)
    if bundled is None or bundled.tiered is None:
        memo.put(
            key, None if bundled is None else [bundled.base, bundled.per_input, bundled.per_output]
        )
    return bundled


def _ask_genai_prices(provider_id: str, model_name: str, batch: bool) -> _Bundled | None:
    """genai-prices' price from its bundled data; None when it does not know the model.

    genai-prices takes ~60 us a call; a run prices every answer, so the rates are read once
    (from genai-prices' own results) and applied here, unless the price has tiers.
    """
    from genai_prices import Usage, data_snapshot
    from genai_prices.types import TieredPrices

    snapshot = data_snapshot.get_snapshot()
    try:
        provider, model = snapshot.find_provider_model(model_name, None, provider_id, None)
    except LookupError:
        return None
    now = datetime.now(tz=UTC)
    has_batch = batch and any(
        v.when == _BATCH_CONTEXT and (v.constraint is None or v.constraint.active(now))
        for v in model.price_variants or ()
    )
    context = _BATCH_CONTEXT if has_batch else None
    scale = BATCH_DISCOUNT if batch and not has_batch else 1.0

    def calc(tokens_in: int, tokens_out: int) -> float:
        usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
        found = model.calc_price(
            usage, provider, genai_request_timestamp=now, price_context=context
        )
        return float(found.total_price) * scale

    prices = model.get_prices(now, context)
    if any(isinstance(v, TieredPrices) for v in vars(prices).values()):
        return _Bundled(0.0, 0.0, 0.0, tiered=calc)
    base = calc(0, 0)
    return _Bundled(
        base, (calc(_MILLION, 0) - base) / _MILLION, (calc(0, _MILLION) - base) / _MILLION
    )


@dataclass(frozen=True)
class _Own:
    """The user's price, online or in batch mode."""

    price: Price
    batch: bool

    def cost(self, tokens_in: float, tokens_out: float) -> float:
        return self.price.cost(tokens_in, tokens_out, batch=self.batch)


_Pricer = _Own | _Bundled


class PriceBook:
    """Prices for a run: the user's own (per api/model or per model name), then genai-prices.

    Args:
        overrides: ``"api/model_name"`` or ``"model_name"`` -> price.
        output_tokens_estimate: the answer size assumed when a prompt gives no max_tokens.
    """

    def __init__(
        self,
        overrides: Mapping[str, Price] | None = None,
        output_tokens_estimate: int = 256,
        memo: PriceMemo | None = None,
    ) -> None:
        self.overrides = dict(overrides or {})
        self.output_tokens_estimate = output_tokens_estimate
        self.warned: set[str] = set()
        self._warned_models: set[tuple[str, str]] = set()
        # Models without a known price, by api: the first is named, the rest counted.
        self._unpriced: dict[str, int] = {}
        self._unreported: dict[str, int] = {}
        self.memo = memo if memo is not None else PriceMemo()
        # (api, model_name, batch) -> what prices it: the user's price, genai-prices' (None:
        # no known price); resolved once, as every answer of a run is priced.
        self._pricers: dict[tuple[str, str, bool], _Pricer | None] = {}

    @classmethod
    def from_settings(cls, settings: RunConfig) -> PriceBook:
        """The run's prices: ``prices``, then each chosen model's ``price`` (judges too)."""
        found: dict[str, Price] = {key: Price.of(p) for key, p in settings.prices.items()}
        models = [settings.model]
        models += [step.model_config for step in settings.evaluation.values()]
        if settings.rephrase is not None:
            models.append(settings.rephrase.model_config)
        for model in models:
            if model is not None and model.price is not None:
                found[f"{model.api}/{model.model_name}"] = Price.of(model.price)
        return cls(found, settings.output_tokens_estimate)

    def override(self, api: str, model_name: str) -> Price | None:
        return self.overrides.get(f"{api}/{model_name}") or self.overrides.get(model_name)

    def warm(self, models: Iterable[tuple[str, str]]) -> None:
        """Look each (api, model_name) up before sending.

        genai-prices loads (~0.2 s) before the event loop is busy, and a model without a
        price is named (once) at the start rather than at its first answer.
        """
        with self.memo.deferred():
            for api, model_name in models:
                self.cost_of(api, model_name or "", 0, 0, batch=False)

    def cost_of(
        self,
        api: str,
        model_name: str,
        input_tokens: float,
        output_tokens: float,
        *,
        batch: bool,
    ) -> float | None:
        """USD for this usage; None (and one warning per model) when no price is known."""
        cost = self.price(api, model_name, input_tokens, output_tokens, batch=batch)
        if cost is None:
            self._warn(api, model_name)
        return cost

    def price(
        self, api: str, model_name: str, tokens_in: float, tokens_out: float, *, batch: bool
    ) -> float | None:
        """Like :meth:`cost_of`, without the warning (None: no known price)."""
        key = (api, model_name, batch)
        try:
            pricer = self._pricers[key]
        except KeyError:
            pricer = self._pricers[key] = self._resolve(api, model_name, batch)
        return None if pricer is None else pricer.cost(tokens_in, tokens_out)

    def _resolve(self, api: str, model_name: str, batch: bool) -> _Pricer | None:
        own = self.override(api, model_name)
        if own is not None:
            return _Own(own, batch)
        if api in FREE_APIS:
            return _Bundled(0.0, 0.0, 0.0)
        return _bundled(api, model_name, batch, self.memo)

    def _warn(self, api: str, model_name: str) -> None:
        if (api, model_name) in self._warned_models:  # every answer of such a model comes here
            return
        self._warned_models.add((api, model_name))
        name = f"{api}/{model_name}"
        if name in self.warned:
            return
        self.warned.add(name)
        self._unpriced[api] = self._unpriced.get(api, 0) + 1
        if self._unpriced[api] > 1:  # one warning per api; the others are counted
            logger.debug("No known price for {}", name)
            return
        logger.warning(
            "No known price for {}: its results get cost_usd null. Give one in its "
            "conf/model/*.yaml (price: {{input_per_mtok: X, output_per_mtok: Y}}) or with "
            "'prices={{{}:{{input_per_mtok:X,output_per_mtok:Y}}}}'",
            name,
            model_name,
        )

    def report_unpriced(self) -> None:
        """Say how many models of each api had no price or no usage (a line per api, at the end)."""
        for what, counts in (
            ("had no known price", self._unpriced),
            ("reported no token usage", self._unreported),
        ):
            for api, count in sorted(counts.items()):
                if count > 1:
                    logger.warning(
                        "{:,} models of {} {} in all (the first is named above): their "
                        "results get cost_usd null",
                        count,
                        api,
                        what,
                    )

    def estimate_cost(
        self, record: PromptRecord, *, batch: bool, tokens: TokenEstimate | None = None
    ) -> float | None:
        """The most ``record`` should cost before it is sent (None: no known price).

        ``tokens`` is the provider's own estimate; without it, prompt characters / 4 plus
        ``max_tokens`` (else ``output_tokens_estimate``).
        """
        split = tokens or estimate_split(record, self.output_tokens_estimate)
        return self.cost_of(
            record.api, record.model_name or "", split.input, split.output, batch=batch
        )

    def outcome_cost(self, outcome: Outcome) -> float | None:
        """What ``outcome`` cost: 0 when cached or nothing was answered, else its usage priced."""
        completion = outcome.completion
        if outcome.cached or completion is None:
            return 0.0
        if completion.input_tokens is None and completion.output_tokens is None:
            return self.unreported(outcome.record)
        record = outcome.record
        return self.cost_of(
            record.api,
            record.model_name or "",
            completion.input_tokens or 0,
            completion.output_tokens or 0,
            batch=outcome.batch_id is not None,
        )

    def unreported(self, record: PromptRecord) -> float | None:
        """An answer without usage: free where the api is, else unknown (said once)."""
        if record.api in FREE_APIS:
            return 0.0
        name = f"{record.api}/{record.model_name}"
        if name not in self.warned:
            self.warned.add(name)
            self._unreported[record.api] = self._unreported.get(record.api, 0) + 1
            if self._unreported[record.api] == 1:  # one warning per api; the rest counted
                logger.warning("{} reported no token usage: its results get cost_usd null", name)
        return None


_DEFAULT = PriceBook()


def cost_of(
    api: str, model_name: str, input_tokens: float, output_tokens: float, *, batch: bool
) -> float | None:
    """USD for this usage at genai-prices' bundled prices (no user overrides)."""
    return _DEFAULT.cost_of(api, model_name, input_tokens, output_tokens, batch=batch)


def estimate_cost(record: PromptRecord, *, batch: bool) -> float | None:
    """The estimated cost of ``record`` at genai-prices' bundled prices (no overrides)."""
    return _DEFAULT.estimate_cost(record, batch=batch)
