"""The limits a run's settings ask for, each built here as a :class:`Limit`.

A request rate can be set at three levels: an evaluation step's own ``max_queries``, the
model's (``model.max_queries``), and the run's (``max_queries``; ``max_queries_dict`` by
group and model, the more specific key first). Step beats model beats run:
:func:`chosen_rate` is that rule, and every place a rate is resolved asks it (the groups of
a run, judges, rephrasing). When no level sets one, the api's default applies
(``runner.prompts.grouping.default_max_queries``: the providers declare which APIs have a
quota). Token limits take the same shape (``max_tokens_per_minute`` and its ``_dict``).
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Mapping
from typing import Any

from runner.config.schema import RunConfig
from runner.config.settings import token_settings
from runner.limits.quota import Accounting, Counts, Limit, Scope

Rate = float | None


def chosen_rate(*, step: Rate = None, model: Rate = None, run: Rate = None) -> float | None:
    """Step beats model beats run: the rate of the most specific level that sets one.

    None (or 0, which the settings' checks refuse) is "not set at this level"; None back:
    no level sets a rate.
    """
    for rate in (step, model, run):
        if rate:
            return rate
    return None


def request_rate(
    *, step: Rate = None, model: Rate = None, run: Rate = None, default: Callable[[], float]
) -> float:
    """:func:`chosen_rate`, else ``default()`` (the api's own, asked only when needed)."""
    rate = chosen_rate(step=step, model=model, run=run)
    return default() if rate is None else float(rate)


def request_rates(settings: RunConfig) -> tuple[float | None, dict[str, Any]]:
    """The run's default request rate and ``max_queries_dict``, the chosen model's rate in them.

    One queue (no ``parallel``): the model's rate beats ``max_queries``. Parallel groups: it
    is the model's own entry in ``max_queries_dict`` (its own sub-group), beating the run's.
    """
    limits: dict[str, Any] = dict(settings.max_queries_dict)
    model = settings.model
    if model is None or model.max_queries is None:
        return settings.max_queries, limits
    if not settings.parallel:
        return chosen_rate(model=model.max_queries, run=settings.max_queries), limits
    current = limits.get(model.api)
    per_model = dict(current) if isinstance(current, Mapping) else {}
    if current is not None and not isinstance(current, Mapping):
        per_model["default"] = current
    per_model[model.model_name] = chosen_rate(
        model=model.max_queries, run=per_model.get(model.model_name)
    )
    limits[model.api] = per_model
    return settings.max_queries, limits


def request_limit(rate_per_minute: float, scope: Scope = Scope.GROUP) -> Limit:
    """Requests a minute of a group, or (``Scope.KEY``) of every group sending with a key."""
    return Limit(Counts.REQUESTS, rate_per_minute, scope=scope)


# Each token-limit setting (and its _dict form) and what it counts.
TOKEN_SETTINGS = {
    "max_tokens_per_minute": Counts.TOTAL_TOKENS,
    "max_input_tokens_per_minute": Counts.INPUT_TOKENS,
    "max_output_tokens_per_minute": Counts.OUTPUT_TOKENS,
}


def token_limit_settings(
    settings: RunConfig,
) -> dict[Counts, tuple[float | None, Mapping[str, Any]]]:
    """The token limits the settings ask for: (default per minute, the ``_dict`` form)."""
    return {TOKEN_SETTINGS[name]: value for name, value in token_settings(settings).items()}


def token_limits_of(
    amounts: Mapping[Counts, float], accounting: Accounting = Accounting.RESERVED
) -> tuple[Limit, ...]:
    """A group's token limits: ``amounts`` per minute by what each counts."""
    return tuple(Limit(counts, amount, accounting=accounting) for counts, amount in amounts.items())


def accounting_of(
    settings: RunConfig, declared: Mapping[str, Accounting]
) -> Callable[[set[str]], Accounting]:
    """How a group's token limits are charged, given the apis it sends to.

    The ``token_accounting`` setting wins; else what the providers declare, ``reserved``
    when a group mixes apis that disagree (the side that never overruns a quota).
    """
    if settings.token_accounting != "provider":
        fixed = Accounting(settings.token_accounting)
        return lambda _apis: fixed

    def resolve(apis: set[str]) -> Accounting:
        kinds = {declared.get(api, Accounting.RESERVED) for api in apis}
        return Accounting.ACTUAL if kinds == {Accounting.ACTUAL} else Accounting.RESERVED

    return resolve


# Descriptors kept for what is not a connection (logs, results, spool, cache, index).
FD_RESERVE = 128
# The most requests in flight at once, whatever the descriptors allow.
MAX_IN_FLIGHT = 1024


def in_flight_limit(max_in_flight: int = 0) -> Limit:
    """Requests in flight all groups together may have (``max_in_flight``; 0: from the fds).

    By default what the fd limit leaves, at most 1024: each request holds a connection, so
    100,000 groups of 16 each would need a descriptor apiece ("Too many open files").
    Groups wait for a slot instead.
    """
    if max_in_flight:
        return Limit(Counts.IN_FLIGHT, max_in_flight)
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return Limit(Counts.IN_FLIGHT, MAX_IN_FLIGHT)
    return Limit(Counts.IN_FLIGHT, max(8, min(MAX_IN_FLIGHT, soft - FD_RESERVE)))
