"""One way to send prompts: an engine session owning what a sender needs, and closing it.

``async with engine_session(...) as engine`` opens the HTTP session (when a provider needs
one and the context has none), makes the providers of the apis asked for, builds the
engine with the run's backoff and attempts, and on the way out closes what it made (the
providers it owns, the session it opened). The run, live judges, stored evaluation and
rephrasing all send through it, so all of them use the response cache (``cache=``). A
request goes cache -> budget -> limits -> transport (``GroupRun.send``; a batch run mounted
on the engine takes its prompts right after the cache); see docs/architecture.md.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager

import aiohttp

from runner import wire_json
from runner.cache.cache import ResponseCache, open_cache
from runner.cost.budget import Budget
from runner.cost.prices import PriceBook
from runner.engine.engine import Engine, EngineSettings, OutcomeSink
from runner.engine.retry import Backoff
from runner.limits.clock import Clock, SystemClock
from runner.limits.from_settings import in_flight_limit
from runner.limits.group_limits import Limits
from runner.output.observer import Observer
from runner.output.stats import GroupStats
from runner.prompts.records import PromptRecord
from runner.providers.base import Provider, ProviderContext, provider_class


def _open_session(
    context: ProviderContext, providers: Iterable[Provider]
) -> aiohttp.ClientSession | None:
    """Open the HTTP session when HTTP providers need one and none is open (None: not opened).

    One session, one pool for every group: no more connections than the engine lets
    requests be in flight (bounded by the fd limit), whatever the number of groups.
    """
    if context.session is not None or not any(p.uses_http for p in providers):
        return None
    connector = aiohttp.TCPConnector(limit=int(in_flight_limit().amount), limit_per_host=0)
    # Bodies as bytes straight from the encoder: no str decoded and encoded again per request.
    context.session = aiohttp.ClientSession(
        connector=connector,
        json_serialize=wire_json.dumps,
        json_serialize_bytes=wire_json.dumps_bytes,
    )
    return context.session


def _providers(
    context: ProviderContext, given: Mapping[str, Provider], apis: Iterable[str], close_all: bool
) -> tuple[dict[str, Provider], list[Provider]]:
    """``given`` plus one made for each api of ``apis`` it lacks; and those to close after."""
    usable = dict(given)
    made: list[Provider] = []
    for api in apis:
        if api not in usable:
            usable[api] = provider_class(api)(context)
            made.append(usable[api])
    return usable, [*(usable.values() if close_all else made)]


@asynccontextmanager
async def engine_session(
    context: ProviderContext,
    sink: OutcomeSink,
    *,
    providers: Mapping[str, Provider] | None = None,
    close_providers: bool = False,
    apis: Iterable[str] = (),
    clock: Clock | None = None,
    limits: Limits | None = None,
    on_change: Callable[[GroupStats], None] | None = None,
    observers: Sequence[Observer] = (),
    budget: Budget | None = None,
    prices: PriceBook | None = None,
    credential: Callable[[PromptRecord], str] | None = None,
) -> AsyncIterator[Engine]:
    """An engine over ``providers`` plus one made for each api of ``apis`` it lacks.

    Args:
        context: settings, environment and (if already open) the HTTP session.
        sink: receives every outcome.
        providers: providers to reuse (a loaded local model); closed here only with
            ``close_providers``. The ones made for ``apis`` are always closed here.
        limits: the limits beyond each group's own pace (none by default).
        on_change: called after a group's counters changed.
        observers: told of every send and every outcome.
        budget: the run's spending cap, shared by its engines (none: unlimited).
        prices: what outcomes cost; by default the settings' prices over genai-prices'.
        credential: a record's key fingerprint, for refused keys (see :class:`Engine`).
    """
    settings = context.settings
    usable, owned = _providers(context, providers or {}, apis, close_providers)
    own_session = _open_session(context, usable.values())
    clock = clock or SystemClock()
    now = clock.wall
    cache: ResponseCache | None = None
    try:
        cache = open_cache(settings, context.run_id, lambda: now().timestamp())
        yield Engine(
            usable,
            EngineSettings(settings.max_attempts, settings.max_concurrency),
            clock,
            Backoff(settings.backoff_base_s, settings.backoff_max_s, random.Random()),
            sink,
            on_change=on_change,
            limits=limits,
            observers=observers,
            cache=cache,
            budget=budget,
            prices=prices or PriceBook.from_settings(settings),
            credential=credential,
        )
    finally:
        if cache is not None:
            cache.close()
        for provider in owned:
            await provider.aclose()
        if own_session is not None:
            await own_session.close()
            context.session = None
