"""The dry-run estimate (``python -m runner.check``): tokens, cost and time per model.

Nothing is sent. Per model: the prompts, their estimated input and output tokens (the
provider's own estimate; output from ``max_tokens``, else ``output_tokens_estimate``), the
cost online and in batch mode, the prompts the response cache is expected to answer, and
the time the limits imply. Groups run at once, so the run takes as long as its slowest
group; a model's time is that of the slowest group it is in.

Cost is priced per model at its average request (so a price tier that depends on a
request's size is chosen by the average size), times the prompts the cache will not answer.
The same rules as the budget's reservations (runner.cost.reserve): thinking budgets and
reasoning bounds in the output, earlier answers of a multi-turn prompt in the input of each
later turn, Anthropic cache writes at their premium. Output figures are upper bounds where
every prompt gives a bound; input figures are estimates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runner.cache.expect import expected_hits
from runner.cost.prices import PriceBook
from runner.cost.reserve import cache_write_factor, output_bounded
from runner.errors import ConfigError
from runner.limits.quota import Counts
from runner.output.money import dollars

if TYPE_CHECKING:
    from runner.config.schema import RunConfig
    from runner.prepare import PreparedRun


@dataclass
class ModelEstimate:
    """One model's share of the experiment, before anything is sent."""

    name: str
    prompts: int = 0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    cache_hits: int = 0
    # Input tokens as priced: cache writes at their premium (runner.cost.reserve).
    priced_input_tokens: float = 0.0
    # Every prompt's answer has a bound (max_tokens or the like, thinking included): the
    # output figures are upper bounds, not guesses (output_tokens_estimate).
    output_bounded: bool = True
    online_usd: float | None = None
    batch_usd: float | None = None
    minutes: float = 0.0
    groups: set[str] = field(default_factory=set)


@dataclass
class _GroupLoad:
    prompts: int = 0
    input_tokens: float = 0.0
    output_tokens: float = 0.0


def group_minutes(
    load: _GroupLoad, rate_per_minute: float, token_limits: Mapping[Counts, float]
) -> float:
    """Minutes the group's limits imply for its load (requests and each token limit)."""
    needs = {
        Counts.INPUT_TOKENS: load.input_tokens,
        Counts.OUTPUT_TOKENS: load.output_tokens,
        Counts.TOTAL_TOKENS: load.input_tokens + load.output_tokens,
    }
    minutes = [load.prompts / rate_per_minute] if rate_per_minute > 0 else []
    minutes += [needs[k] / v for k, v in token_limits.items() if k in needs and v > 0]
    return max(minutes, default=0.0)


def estimate_run(prepared: PreparedRun, settings: RunConfig) -> list[ModelEstimate]:
    """Every model's estimate, read from the plan's spool (nothing is sent)."""
    prices = PriceBook.from_settings(settings)
    models: dict[str, ModelEstimate] = {}
    plan = prepared.plan
    minutes: dict[str, float] = {}
    for name, group in plan.groups.items():
        load = _GroupLoad()
        for record in plan.records(name):
            tokens = prepared.providers[record.api].estimate_tokens(record)
            key = f"{record.api}/{record.model_name or '-'}"
            model = models.setdefault(key, ModelEstimate(key))
            model.groups.add(name)
            model.prompts += 1
            load.prompts += 1
            load.input_tokens += tokens.input
            load.output_tokens += tokens.output
            model.input_tokens += tokens.input
            model.priced_input_tokens += tokens.input * cache_write_factor(record)
            model.output_tokens += tokens.output
            model.output_bounded &= output_bounded(record)
        minutes[name] = group_minutes(load, group.rate_per_minute, group.token_limits)
    every = (record for name in plan.groups for record in plan.records(name))
    hits = expected_hits(settings, every, prepared.providers)
    for model in models.values():
        api, _, name = model.name.partition("/")
        model.cache_hits = hits.get((api, "" if name == "-" else name), 0)
        # Only what is sent is paid: the model's tokens less its hits' share.
        sent_share = (model.prompts - model.cache_hits) / model.prompts
        model.input_tokens *= sent_share
        model.priced_input_tokens *= sent_share
        model.output_tokens *= sent_share
        model.minutes = max((minutes[g] for g in model.groups), default=0.0)
        _price(model, prices)
    return sorted(models.values(), key=lambda m: m.name)


def _price(model: ModelEstimate, prices: PriceBook) -> None:
    sent = model.prompts - model.cache_hits
    api, _, name = model.name.partition("/")
    if sent == 0:
        model.online_usd = model.batch_usd = 0.0
        return
    avg_in, avg_out = model.priced_input_tokens / sent, model.output_tokens / sent
    for batch in (False, True):
        each = prices.price(api, "" if name == "-" else name, avg_in, avg_out, batch=batch)
        cost = None if each is None else each * sent
        if batch:
            model.batch_usd = cost
        else:
            model.online_usd = cost


def _minutes(value: float) -> str:
    if value < 1:
        return f"{value * 60:.0f} s"
    if value < 120:
        return f"{value:.1f} min"
    return f"{value / 60:.1f} h"


def format_estimate(estimates: Iterable[ModelEstimate], cap: float | None = None) -> list[str]:
    """The estimate's lines for the terminal; ``cap``: the run's ``max_cost_usd``."""
    rows = list(estimates)
    if not rows:
        return []
    width = max([5, *(len(m.name) for m in rows)])
    lines = [
        "Estimate (nothing sent; prices: genai-prices' bundled data and your own):",
        f"  {'model':<{width}}  {'prompts':>8} {'input tok':>11} {'output tok':>11}"
        f" {'online':>11} {'batch':>11} {'cached':>7} {'time':>9}",
    ]
    for m in rows:
        lines.append(
            f"  {m.name:<{width}}  {m.prompts:>8,} {m.input_tokens:>11,.0f}"
            f" {m.output_tokens:>11,.0f} {dollars(m.online_usd):>11} {dollars(m.batch_usd):>11}"
            f" {m.cache_hits:>7,} {_minutes(m.minutes):>9}"
        )
    if any(m.online_usd is None for m in rows):
        lines.append("  (-: no known price; give one with price: in conf/model, or prices={...})")
    total = max(m.minutes for m in rows)
    lines.append(
        f"  The limits imply about {_minutes(total)} in all "
        "(groups run at once: the slowest sets the time)."
    )
    lines += _bounds_note(rows)
    if cap is not None:
        online = sum(m.online_usd or 0.0 for m in rows)
        verdict = "fits in" if online <= cap else "is over"
        lines.append(
            f"  Online, the estimate {dollars(online)} {verdict} max_cost_usd={dollars(cap)}"
            " (judges not included); the run stops sending before it spends more. The cap"
            " is for this command: the jobs of a sweep (-m) share it."
        )
    return lines


def _bounds_note(rows: list[ModelEstimate]) -> list[str]:
    """Which figures are upper bounds and which are estimates."""
    guessed = [m.name for m in rows if not m.output_bounded]
    note = [
        "  Input tokens are estimates (characters / 4; cache writes priced at their premium);"
        " output tokens are upper bounds (max_tokens or the like, thinking included)"
    ]
    if guessed:
        note[0] += ", except for " + ", ".join(guessed) + ":"
        note.append(
            "  some of their prompts give no max_tokens, so output_tokens_estimate is a guess"
            " (give max_tokens for a bound)."
        )
    else:
        note[0] += "."
    return note


def check_budget_priced(settings: RunConfig, models: Iterable[tuple[str, str]]) -> None:
    """With ``max_cost_usd``, every model sent to (judges too) needs a known price.

    Raises:
        ConfigError: a model has no known price, so the cap could not be kept.
    """
    if settings.max_cost_usd is None:
        return
    prices = PriceBook.from_settings(settings)
    wanted = list(models)
    wanted += [
        (s.model_config.api, s.model_config.model_name)
        for s in settings.evaluation.values()
        if s.model_config is not None
    ]
    missing = sorted(
        {f"{a}/{n}" for a, n in wanted if prices.price(a, n, 0, 0, batch=False) is None}
    )
    if missing:
        raise ConfigError(
            f"max_cost_usd: no known price for {', '.join(missing)}, so the budget cannot be "
            "kept; give a price in its conf/model/*.yaml (price: {input_per_mtok: X, "
            "output_per_mtok: Y}) or with 'prices={<model_name>:{input_per_mtok:X,"
            "output_per_mtok:Y}}'"
        )
