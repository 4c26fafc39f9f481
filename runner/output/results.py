"""One line of ``completed.jsonl``: the user's record plus what happened to it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.errors import ProviderError
from runner.prompts.records import OUTPUT_FIELDS, PromptRecord
from runner.providers.base import Completion
from runner.redaction import public_url

STATUS_OK = "ok"
STATUS_ERROR = "error"


@dataclass
class Outcome:
    """How a prompt ended: a completion or an error, after some attempts."""

    record: PromptRecord
    group: str
    attempts: int
    completion: Completion | None = None
    error: ProviderError | None = None
    error_kind: str | None = None
    sent_at: datetime | None = None
    received_at: datetime | None = None
    latency_s: float | None = None
    # The caller's own tag for the prompt (see runner.engine.group_run.Tagged): matches an
    # outcome back to what asked for it.
    tag: Any = None
    # Answered from the response cache (nothing sent; latency and usage as first recorded).
    cached: bool = False
    # The provider batch that answered it (None: sent online).
    batch_id: str | None = None
    # What the answer cost, priced from the usage the API reported (None: no known price).
    cost_usd: float | None = None
    # Whether cost_usd is settled (priced once: None may be the price, "unknown").
    priced: bool = False
    # Structured output (output_schema): whether the request carried a schema, the answer
    # parsed once valid, and the earlier attempts whose answers were refused (each with its
    # error and cost; cost_usd counts them too).
    structured: bool = False
    parsed: Any = None
    rejected: list[dict[str, Any]] | None = None

    @property
    def ok(self) -> bool:
        return self.completion is not None and self.error is None


# The last second written and its text (a tuple: one read, one write, whatever the thread).
_second: tuple[tuple[int, ...], str] = ((), "")


def _iso(moment: datetime) -> str:
    """``moment.isoformat(timespec="milliseconds")``, at a third of its cost for UTC times.

    Two timestamps a line: formatting each whole took ~5% of a run's CPU per prompt. Lines
    of the same second share the text up to the second.
    """
    global _second
    if moment.tzinfo is not UTC:
        return moment.isoformat(timespec="milliseconds")
    key = (moment.second, moment.minute, moment.hour, moment.day, moment.month, moment.year)
    seen, text = _second
    if key != seen:
        text = moment.isoformat(timespec="seconds")[:-6]  # without its "+00:00"
        _second = (key, text)
    return f"{text}.{moment.microsecond // 1000:03d}+00:00"


def result_line(outcome: Outcome, *, run_id: str, experiment: str) -> dict[str, Any]:
    """The output record: every input key, then the runner's fields.

    Runner's fields come last, so a column such as ``status`` always means what runner
    says; an input key of the same name is kept as ``input_<key>``. A runner field that
    holds its default is left out (:data:`DEFAULTS`: null, and ``cached`` false), and so is
    a null token count in ``usage``: at ten million lines that is a quarter of the bytes.
    :func:`full_line` puts them back.
    """
    completion = outcome.completion
    error = outcome.error
    data = outcome.record.data
    line = (
        dict(data)
        if OUTPUT_FIELDS.isdisjoint(data)  # the usual case: no key to rename
        else {(f"input_{k}" if k in OUTPUT_FIELDS else k): v for k, v in data.items()}
    )
    line["response"] = None if completion is None else completion.text
    line["status"] = STATUS_OK if outcome.ok else STATUS_ERROR
    if error is not None:  # an error may quote the URL it was sent to: never its user:password@
        line["error"] = public_url(str(error))
    if outcome.error_kind is not None:
        line["error_kind"] = outcome.error_kind
    line["attempts"] = outcome.attempts
    if outcome.sent_at is not None:
        line["timestamp_sent"] = _iso(outcome.sent_at)
    if outcome.received_at is not None:
        line["timestamp_received"] = _iso(outcome.received_at)
    if outcome.latency_s is not None:
        line["latency_s"] = round(outcome.latency_s, 4)
    if completion is not None:
        line["usage"] = usage_of(completion)
        if completion.finish_reason is not None:
            line["finish_reason"] = completion.finish_reason
        if completion.model is not None:
            line["response_model"] = completion.model
    if outcome.cached:
        line["cached"] = True
    if outcome.cost_usd is not None:  # USD from the reported usage (0: cached or not sent)
        line["cost_usd"] = round(outcome.cost_usd, 10)
    line["run_id"] = run_id
    line["experiment"] = experiment
    line["rate_group"] = outcome.group
    line["prompt_key"] = outcome.record.key
    line["line"] = outcome.record.line
    if outcome.batch_id is not None:  # batch mode only
        line["batch_id"] = outcome.batch_id
    if completion is not None:  # only where the API returned them
        if completion.thinking is not None:
            line["thinking"] = completion.thinking
        if completion.tool_calls is not None:
            line["tool_calls"] = completion.tool_calls
    if outcome.structured:  # output_schema only
        line["parsed"] = outcome.parsed
        if outcome.rejected:
            line["rejected_outputs"] = outcome.rejected
    return line


def usage_of(completion: Completion) -> dict[str, Any]:
    """The line's ``usage``: the counts as billed (runner.providers.usage) that were reported.

    ``input_tokens`` includes cache reads and writes, ``output_tokens`` reasoning;
    ``cache_write_1h_tokens`` (Anthropic's 1 h cache) only when the answer reports it, and
    ``other`` (audio, image, tool-use tokens, web searches, by genai-prices' names) too.
    A count the answer did not report is left out (:func:`full_line` reads it as null).
    """
    counts = {  # USAGE_FIELDS, spelled out: every answer comes here
        "input_tokens": completion.input_tokens,
        "output_tokens": completion.output_tokens,
        "cached_input_tokens": completion.cached_input_tokens,
        "cache_write_tokens": completion.cache_write_tokens,
        "reasoning_tokens": completion.reasoning_tokens,
        "cache_write_1h_tokens": completion.cache_write_1h_tokens,
    }
    usage: dict[str, Any] = {k: v for k, v in counts.items() if v is not None}
    if completion.other_tokens:
        usage["other"] = completion.other_tokens
    return usage


# The runner's fields every result line has, in line order; those with a default in
# DEFAULTS are left out of the line while they hold it (an absent key reads as its default).
LINE_FIELDS = (
    "response", "status", "error", "error_kind", "attempts", "timestamp_sent",
    "timestamp_received", "latency_s", "usage", "finish_reason", "response_model", "cached",
    "cost_usd", "run_id", "experiment", "rate_group", "prompt_key", "line",
)  # fmt: skip
DEFAULTS: dict[str, Any] = {
    "error": None,
    "error_kind": None,
    "timestamp_sent": None,
    "timestamp_received": None,
    "latency_s": None,
    "usage": None,  # every count null (see full_line)
    "finish_reason": None,
    "response_model": None,
    "cached": False,
    "cost_usd": None,
}
_ALWAYS = frozenset(LINE_FIELDS) - DEFAULTS.keys()


def full_line(line: dict[str, Any]) -> dict[str, Any]:
    """A result line with every field :func:`result_line` leaves out put back, in place.

    What a line of an older runner read as: every ``LINE_FIELDS`` key, ``usage`` with all
    five counts, in the same key order. A line runner did not write (prompto's: no
    ``rate_group`` or ``attempts``) is returned as it is, and so is a line already full.
    """
    if not _ALWAYS.issubset(line):
        return line  # not a runner result line: the user's keys stay exactly as they were
    usage = line.get("usage")
    if DEFAULTS.keys() <= line.keys() and isinstance(usage, dict) and usage.keys() >= _USAGE_KEYS:
        return line
    full = {k: v for k, v in line.items() if k not in OUTPUT_FIELDS}  # the input's keys
    for key in LINE_FIELDS:
        full[key] = line.get(key, DEFAULTS.get(key))
    if usage is None or isinstance(usage, dict):
        counts = usage or {}
        full["usage"] = {k: counts.get(k) for k in USAGE_FIELDS} | counts
    full.update((k, v) for k, v in line.items() if k in OUTPUT_FIELDS and k not in full)
    return full


USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
_USAGE_KEYS = frozenset(USAGE_FIELDS)


def invalid_lines(
    invalid: Iterable[tuple[PromptRecord, list[str]]], *, run_id: str, experiment: str
) -> Iterator[dict[str, Any]]:
    """on_invalid=skip: an error line (``error_kind: invalid``) per record the check refused."""
    for record, messages in invalid:
        error = ProviderError("; ".join(messages))
        outcome = Outcome(record, "invalid", 0, error=error, error_kind="invalid")
        yield result_line(outcome, run_id=run_id, experiment=experiment)
