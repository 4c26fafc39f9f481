"""Split the prompts of an experiment into rate-limit groups, as prompto does.

With ``parallel``, prompts are grouped by their ``group`` key, else by ``api``; each group
runs at its own limit. ``max_queries_dict`` gives a group (or api) a number, or a dict with
``default`` and per-``model_name`` limits; a model with its own limit becomes its own
sub-group ``<group>-<model_name>``. Without ``parallel``, all prompts form one queue.
Token limits (``max_tokens_dict``) follow the same shape and the same sub-groups.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.limits.from_settings import chosen_rate, request_rate, token_limits_of
from runner.limits.quota import Counts, Limit
from runner.prompts.records import PromptRecord

SINGLE_QUEUE = "all"
# A group's limit when max_queries is not set: 10 a minute for an API with a quota.
DEFAULT_MAX_QUERIES = 10.0
# ... and for one without (the local model: the machine is its limit): in effect none
# (at or above runner.limits.shared_limits.NEVER_BINDS_PER_MINUTE, kept in-process).
NO_QUOTA_MAX_QUERIES = 1e9
# What the providers declare (runner.providers.base.register fills these, so the grouping
# needs no import of the providers above it): the APIs without a quota of requests, and
# those whose server loads one model at a time.
_DECLARED: set[str] = set()
_NO_QUOTA: set[str] = set()
_MODEL_BY_MODEL: set[str] = set()


@dataclass(frozen=True)
class Tagged:
    """A record with the sender's own tag, handed back on its outcome (``Outcome.tag``)."""

    record: PromptRecord
    tag: Any


Records = Iterable[PromptRecord | Tagged] | AsyncIterable[PromptRecord | Tagged]


@dataclass
class Group:
    """Prompts that share one rate limit.

    ``records`` may be a list, a stream read lazily (see :mod:`runner.prompts.plan`), or an
    async stream fed while the run goes on (judge prompts); ``total`` is how many it yields
    (-1 when not known in advance).
    """

    name: str
    rate_per_minute: float
    records: Records = field(default_factory=list)
    total: int = -1
    # Shorthand for a total-tokens limit in ``token_limits`` (reserved accounting).
    tokens_per_minute: float | None = None
    # The group's token limits (input, output, total tokens).
    token_limits: tuple[Limit, ...] = ()
    # What identifies this limit between processes: the group and the credentials it uses
    # (a fingerprint, never a key). Empty: the limit is this process's alone.
    identity: str = ""
    # The most requests in flight its APIs can take (None: max_concurrency decides).
    max_concurrency: int | None = None

    def __post_init__(self) -> None:
        has_total = any(lim.counts is Counts.TOTAL_TOKENS for lim in self.token_limits)
        if self.tokens_per_minute is not None and not has_total:
            total = token_limits_of({Counts.TOTAL_TOKENS: self.tokens_per_minute})
            self.token_limits = (*self.token_limits, *total)
        if self.total < 0 and isinstance(self.records, list):
            self.total = len(self.records)


def _split(
    default: float | None, limits: Mapping[str, Any]
) -> tuple[dict[str, float | None], dict[str, dict[str, float]]]:
    group_limits: dict[str, float | None] = {}
    model_limits: dict[str, dict[str, float]] = {}
    for key, value in limits.items():
        if isinstance(value, Mapping):
            group_limits[key] = float(value["default"]) if "default" in value else default
            model_limits[key] = {str(m): float(v) for m, v in value.items() if m != "default"}
        else:
            group_limits[key] = float(value)
    return group_limits, model_limits


# Token limits of a group by what they count (per minute); absent kinds have no limit.
TokenAmounts = dict[Counts, float]


# What GroupAssigner.assign gives a record: its group, request rate and token limits.
_Assigned = tuple[str, float, TokenAmounts]


class GroupAssigner:
    """Decides each record's group and limits, one record at a time (for streaming).

    ``token_limits`` maps what a token limit counts to its default amount per minute (None:
    none) and its ``_dict`` form, shaped like ``max_queries_dict``.
    """

    def __init__(
        self,
        *,
        max_queries: float | None,
        parallel: bool,
        max_queries_dict: Mapping[str, Any],
        max_tokens: float | None = None,
        max_tokens_dict: Mapping[str, Any] | None = None,
        token_limits: Mapping[Counts, tuple[float | None, Mapping[str, Any]]] | None = None,
    ) -> None:
        self.parallel = parallel
        self.max_queries = None if max_queries is None else float(max_queries)
        self._queries = _split(self.max_queries, max_queries_dict)
        kinds = dict(token_limits or {})
        if max_tokens is not None or max_tokens_dict:
            kinds.setdefault(Counts.TOTAL_TOKENS, (max_tokens, max_tokens_dict or {}))
        self._defaults = {k: d for k, (d, _) in kinds.items()}
        self._tokens = {k: _split(d, m) for k, (d, m) in kinds.items()}
        # A record's group depends on its api, group and model only: worked out once each.
        self._assigned: dict[tuple[str, str | None, str | None], _Assigned] = {}

    @property
    def max_tokens(self) -> float | None:
        return self._defaults.get(Counts.TOTAL_TOKENS)

    def _default_tokens(self) -> TokenAmounts:
        return {k: v for k, v in self._defaults.items() if v is not None}

    def assign(self, record: PromptRecord) -> _Assigned:
        """(group name, queries per minute, token limits per minute) for ``record``.

        A model's own limits beat its group's, which default to the run's (the one rule,
        :func:`runner.limits.from_settings.chosen_rate`); the api's default comes last.
        The token limits are shared by the records of a group: read them, never change them.
        """
        key = (record.api, record.group, record.model_name)
        found = self._assigned.get(key)
        if found is None:
            found = self._assigned[key] = self._assign(record)
        return found

    def _assign(self, record: PromptRecord) -> _Assigned:

        def default() -> float:
            return default_max_queries(record.api)

        if not self.parallel:
            rate = request_rate(run=self.max_queries, default=default)
            return SINGLE_QUEUE, rate, self._default_tokens()
        base = record.group or record.api
        q_groups, q_models = self._queries
        model = record.model_name or ""
        own = bool(model) and (
            model in q_models.get(base, {})
            or any(model in models.get(base, {}) for _g, models in self._tokens.values())
        )
        # A model with a limit of its own is a sub-group of its own.
        name = f"{base}-{model}" if own else base
        rate = request_rate(
            model=q_models.get(base, {}).get(model) if own else None,
            run=q_groups.get(base, self.max_queries),
            default=default,
        )
        tokens: dict[Counts, float | None] = {
            kind: chosen_rate(
                model=models.get(base, {}).get(model) if own else None,
                run=groups.get(base, self._defaults[kind]),
            )
            for kind, (groups, models) in self._tokens.items()
        }
        return name, rate, {k: v for k, v in tokens.items() if v is not None}


def group_records(
    records: Iterable[PromptRecord],
    *,
    max_queries: float | None,
    parallel: bool,
    max_queries_dict: Mapping[str, Any],
) -> dict[str, Group]:
    """Assign every record of a list to its group; groups keep first-seen order."""
    assigner = GroupAssigner(
        max_queries=max_queries, parallel=parallel, max_queries_dict=max_queries_dict
    )
    groups: dict[str, Group] = {}
    lists: dict[str, list[PromptRecord]] = {}
    for record in records:
        name, rate, tokens = assigner.assign(record)
        if name not in groups:
            lists[name] = []
            groups[name] = Group(name, rate, lists[name], token_limits=token_limits_of(tokens))
        # One queue for APIs with and without a quota: the lowest limit holds for all.
        groups[name].rate_per_minute = min(groups[name].rate_per_minute, rate)
        lists[name].append(record)
    for name, group in groups.items():
        group.records = sorted(lists[name], key=_model_order(lists[name]))
        group.total = len(lists[name])
    return groups


def _model_order(records: list[PromptRecord]) -> Any:
    """A sort key that sends a local server's prompts model by model (stable otherwise)."""
    order: dict[str, int] = {}
    for r in records:
        order.setdefault(swap_key(r), len(order))
    return lambda r: order[swap_key(r)]


def declare_api(api: str, *, has_quota: bool, sends_model_by_model: bool) -> None:
    """Note what ``api``'s provider declares about sending (its registration calls this)."""
    _DECLARED.add(api)
    _NO_QUOTA.discard(api)
    _MODEL_BY_MODEL.discard(api)
    if not has_quota:
        _NO_QUOTA.add(api)
    if sends_model_by_model:
        _MODEL_BY_MODEL.add(api)


def _check_declared() -> None:
    """Refuse to group before any provider declared itself (their traits would be missed)."""
    if not _DECLARED:
        raise RuntimeError("no provider is registered: import runner.providers before grouping")


def default_max_queries(api: str) -> float:
    """A group's limit when ``max_queries`` is not set: none for an API without a quota."""
    _check_declared()
    return NO_QUOTA_MAX_QUERIES if api in _NO_QUOTA else DEFAULT_MAX_QUERIES


def swap_key(record: PromptRecord) -> str:
    """Records with the same key are sent together: one key per model of a local server."""
    _check_declared()
    if record.api in _MODEL_BY_MODEL:
        return f"{record.api}\x1f{record.model_name}"
    return ""


def apply_model(
    records: Iterable[PromptRecord], api: str, model_name: str, params: dict[str, Any]
) -> int:
    """Point every record at the chosen model; returns how many named another model.

    The model's parameters are defaults: a prompt's own parameters win.
    """
    changed = 0
    for record in records:
        changed += apply_model_to(record, api, model_name, params)
    return changed


def apply_model_to(record: PromptRecord, api: str, model_name: str, params: dict[str, Any]) -> int:
    """:func:`apply_model` for one record; 1 if it named another model, else 0."""
    data = record.data
    changed = int(
        (data.get("api"), data.get("model_name")) not in ((api, model_name), (None, None))
    )
    data["api"] = api
    data["model_name"] = model_name
    if params:
        data["parameters"] = {**params, **record.parameters}
    return changed
