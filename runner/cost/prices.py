"""What a request costs: genai-prices' bundled price data, or the user's own prices.

Prices come from ``genai-prices``' data bundled with the pinned package (never fetched), so a
version prices the same usage the same way, offline; a ``price:`` in ``conf/model/<name>.yaml``
or the run's ``prices`` wins. Each provider names its genai-prices provider
(``price_provider``; Vertex AI bills Gemini at the Gemini API's rates), declares ``free``
(the user's own machine: 0), or neither (a TGI endpoint: unknown unless a price is given).
Batch: genai-prices' batch price, else half the online price (as the providers document);
a processing tier (OpenAI ``service_tier: priority``) at its own rates. An answer is priced
on its whole billed usage (runner.providers.usage): cache reads and writes, reasoning and
long-context tiers each as genai-prices prices them (docs/cost.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from loguru import logger

from runner.cost.bundled import (
    BATCH_DISCOUNT,
    Bundled,
    Tokens,
    ask_genai_prices,
    bundled,
    consistent,
    service_tier,
)
from runner.cost.price import OwnPrice, Price, usage_tokens
from runner.cost.price_memo import PriceMemo
from runner.limits.quota import TokenEstimate
from runner.limits.tokens import estimate_split
from runner.prompts.records import PromptRecord
from runner.providers.registry import is_free, price_provider
from runner.providers.usage import usage_readers
from runner.providers.usage_paths import compiled_paths, seed_compiled

if TYPE_CHECKING:
    from runner.config.schema import RunConfig
    from runner.output.results import Outcome
    from runner.providers.completion import Completion

__all__ = ["BATCH_DISCOUNT", "Price", "PriceBook", "Tokens"]


_Pricer = OwnPrice | Bundled
_Calc = Callable[[Tokens], float]


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
        self._warned_parts: set[tuple[str, str]] = set()  # usage contradicting itself
        # Models without a known price, by api: the first is named, the rest counted.
        self._unpriced: dict[str, int] = {}
        self._unreported: dict[str, int] = {}
        self.memo = memo if memo is not None else PriceMemo()
        # (api, model_name, batch) -> what prices it: the user's price, genai-prices' (None:
        # no known price); resolved once, as every answer of a run is priced.
        self._pricers: dict[tuple[str, str, bool, str | None], _Pricer | None] = {}
        self._calculators: dict[tuple[str, str, bool, str | None], _Calc | None] = {}

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
        models = list(models)
        with self.memo.deferred():
            for api, model_name in models:
                self.cost_of(api, model_name or "", 0, 0, batch=False)
            for api in {api for api, _ in models}:
                self._warm_readers(api)

    def _warm_readers(self, api: str) -> None:
        """Compile ``api``'s usage readers now (not at the first answer), through the memo."""
        for provider_id, flavor in usage_readers(api):
            found, paths = self.memo.get_reader(provider_id, flavor)
            if found:
                seed_compiled(provider_id, flavor, paths)
            else:
                self.memo.put_reader(provider_id, flavor, compiled_paths(provider_id, flavor))

    def cost_of(
        self,
        api: str,
        model_name: str,
        input_tokens: float,
        output_tokens: float,
        *,
        batch: bool,
        extra: Tokens | None = None,
        tier: str | None = None,
    ) -> float | None:
        """USD for this usage; None (and one warning per model) when no price is known.

        ``extra``: the whole usage when it has cache or reasoning counts (priced each at
        its own rate); its ``input`` and ``output`` are ``input_tokens`` and ``output_tokens``.
        ``tier``: the processing tier asked for (runner.cost.bundled.service_tier).
        """
        cost = self.price(
            api, model_name, input_tokens, output_tokens, batch=batch, extra=extra, tier=tier
        )
        if cost is None:
            self._warn(api, model_name)
        return cost

    def price(
        self,
        api: str,
        model_name: str,
        tokens_in: float,
        tokens_out: float,
        *,
        batch: bool,
        extra: Tokens | None = None,
        tier: str | None = None,
    ) -> float | None:
        """Like :meth:`cost_of`, without the warning (None: no known price)."""
        key = (api, model_name, batch, tier)
        try:
            pricer = self._pricers[key]
        except KeyError:
            pricer = self._pricers[key] = self._resolve(api, model_name, batch, tier)
        if pricer is None:
            return None
        if extra is not None and not consistent(extra):
            self._warn_parts(api, model_name, extra)
        if extra is not None and extra.other and type(pricer) is Bundled and not is_free(api):
            exact = self._exact(api, model_name, batch, tier)
            if exact is not None:  # genai-prices prices audio, images, searches, ... itself
                return exact(extra)
        return pricer.cost(tokens_in, tokens_out, extra)

    def _exact(self, api: str, model_name: str, batch: bool, tier: str | None) -> _Calc | None:
        """genai-prices' own calculator of a model (loaded once; None: free or unknown)."""
        key = (api, model_name, batch, tier)
        if key not in self._calculators:
            provider_id = price_provider(api)
            found = ask_genai_prices(provider_id, model_name, batch, tier) if provider_id else None
            self._calculators[key] = None if found is None else found.calc
        return self._calculators[key]

    def _resolve(self, api: str, model_name: str, batch: bool, tier: str | None) -> _Pricer | None:
        own = self.override(api, model_name)
        if own is not None:
            return OwnPrice(own, batch)
        if is_free(api):
            return Bundled(0.0, 0.0, 0.0)
        return bundled(api, model_name, batch, self.memo, tier)

    def _warn_parts(self, api: str, model_name: str, tokens: Tokens) -> None:
        """Say once per model that its usage contradicts itself (only its totals are priced)."""
        if (api, model_name) in self._warned_parts:
            return
        self._warned_parts.add((api, model_name))
        message = "{}/{} reported usage whose parts exceed its totals ({}): its totals priced"
        logger.warning(message, api, model_name, tokens)

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
        model, tier = record.model_name or "", service_tier(record.parameters)
        return self.cost_of(record.api, model, split.input, split.output, batch=batch, tier=tier)

    def outcome_cost(self, outcome: Outcome) -> float | None:
        """What ``outcome`` cost: 0 when cached or nothing was answered, else its usage priced."""
        completion = outcome.completion
        if completion is None and outcome.error is not None:
            completion = outcome.error.billed  # a conversation's turns before it failed
        if outcome.cached or completion is None:
            return 0.0
        batch = outcome.batch_id is not None
        if completion.turns:  # a request per turn, each billed on its own (tiers)
            costs = [self.completion_cost(outcome.record, turn, batch) for turn in completion.turns]
            return None if None in costs else sum(c for c in costs if c is not None)
        return self.completion_cost(outcome.record, completion, batch)

    def completion_cost(
        self, record: PromptRecord, completion: Completion, batch: bool
    ) -> float | None:
        """What one answered request cost: its usage priced (None: unknown)."""
        if completion.input_tokens is None and completion.output_tokens is None:
            return self.unreported(record)
        tokens_in, tokens_out = completion.input_tokens or 0, completion.output_tokens or 0
        served = completion.service_tier
        return self.cost_of(
            record.api,
            record.model_name or "",
            tokens_in,
            tokens_out,
            batch=batch,
            extra=usage_tokens(completion, tokens_in, tokens_out),
            # The tier the answer says served it, else the one asked for.
            tier=service_tier({"service_tier": served} if served else record.parameters),
        )

    def unreported(self, record: PromptRecord) -> float | None:
        """An answer without usage: free where the api is, else unknown (said once)."""
        if is_free(record.api):
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
