"""One line of ``completed.jsonl``: the user's record plus what happened to it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
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


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


def result_line(outcome: Outcome, *, run_id: str, experiment: str) -> dict[str, Any]:
    """The output record: every input key, then the runner's fields.

    Runner's fields come last, so a column such as ``status`` always means what runner
    says; an input key of the same name is kept as ``input_<key>``.
    """
    completion = outcome.completion
    error = outcome.error
    data = outcome.record.data
    inputs = (
        data
        if OUTPUT_FIELDS.isdisjoint(data)  # the usual case: no key to rename
        else {(f"input_{k}" if k in OUTPUT_FIELDS else k): v for k, v in data.items()}
    )
    line = {
        **inputs,
        "response": None if completion is None else completion.text,
        "status": STATUS_OK if outcome.ok else STATUS_ERROR,
        # An error may quote the URL it was sent to: never with its user:password@.
        "error": None if error is None else public_url(str(error)),
        "error_kind": outcome.error_kind,
        "attempts": outcome.attempts,
        "timestamp_sent": _iso(outcome.sent_at),
        "timestamp_received": _iso(outcome.received_at),
        "latency_s": None if outcome.latency_s is None else round(outcome.latency_s, 4),
        "usage": usage_of(completion),
        "finish_reason": None if completion is None else completion.finish_reason,
        "response_model": None if completion is None else completion.model,
        "cached": outcome.cached,
        # USD from the reported usage (0: cached or nothing answered; null: no known price).
        "cost_usd": None if outcome.cost_usd is None else round(outcome.cost_usd, 10),
        "run_id": run_id,
        "experiment": experiment,
        "rate_group": outcome.group,
        "prompt_key": outcome.record.key,
        "line": outcome.record.line,
    }
    if outcome.batch_id is not None:  # batch mode only: online lines stay as they were
        line["batch_id"] = outcome.batch_id
    if completion is not None:  # only where the API returned them: other lines stay as they were
        if completion.thinking is not None:
            line["thinking"] = completion.thinking
        if completion.tool_calls is not None:
            line["tool_calls"] = completion.tool_calls
    if outcome.structured:  # output_schema only
        line["parsed"] = outcome.parsed
        if outcome.rejected:
            line["rejected_outputs"] = outcome.rejected
    return line


def usage_of(completion: Completion | None) -> dict[str, Any]:
    """The line's ``usage``: the counts as billed (runner.providers.usage), None: unreported.

    ``input_tokens`` includes cache reads and writes, ``output_tokens`` reasoning;
    ``cache_write_1h_tokens`` (Anthropic's 1 h cache) only when the answer reports it, and
    ``other`` (audio, image, tool-use tokens, web searches, by genai-prices' names) too.
    """
    if completion is None:
        return dict.fromkeys(USAGE_FIELDS)
    usage: dict[str, Any] = {  # USAGE_FIELDS, spelled out: every answer comes here
        "input_tokens": completion.input_tokens,
        "output_tokens": completion.output_tokens,
        "cached_input_tokens": completion.cached_input_tokens,
        "cache_write_tokens": completion.cache_write_tokens,
        "reasoning_tokens": completion.reasoning_tokens,
    }
    if completion.cache_write_1h_tokens is not None:
        usage["cache_write_1h_tokens"] = completion.cache_write_1h_tokens
    if completion.other_tokens:
        usage["other"] = completion.other_tokens
    return usage


USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def invalid_lines(
    invalid: Iterable[tuple[PromptRecord, list[str]]], *, run_id: str, experiment: str
) -> Iterator[dict[str, Any]]:
    """on_invalid=skip: an error line (``error_kind: invalid``) per record the check refused."""
    for record, messages in invalid:
        error = ProviderError("; ".join(messages))
        outcome = Outcome(record, "invalid", 0, error=error, error_kind="invalid")
        yield result_line(outcome, run_id=run_id, experiment=experiment)
