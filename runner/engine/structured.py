"""Structured output on the request path: each answer checked against its request's schema.

A valid answer gets ``parsed``; an invalid or truncated one becomes a retryable error of
kind ``invalid_output`` (the completion is kept: it was paid for), which the group asks
again up to ``max_attempts``, keeping the refused attempts and their cost on the outcome.
"""

from __future__ import annotations

from typing import Any

from runner.errors import ErrorKind, ProviderError
from runner.output.results import Outcome
from runner.prompts.output_check import check_answer, sent_schema

INVALID_OUTPUT = "invalid_output"


def check_output(outcome: Outcome) -> None:
    """Parse and check an answered ``outcome`` whose request carried a JSON Schema."""
    completion = outcome.completion
    if completion is None or outcome.error is not None:
        return
    schema = sent_schema(outcome.record)
    if schema is None:
        return
    outcome.structured = True
    try:
        outcome.parsed = check_answer(completion.text, completion.finish_reason, schema)
    except ValueError as exc:
        outcome.error = ProviderError(f"invalid output: {exc}", ErrorKind.RETRYABLE)
        outcome.error_kind = INVALID_OUTPUT


def refused_attempt(outcome: Outcome) -> dict[str, Any]:
    """What the result line keeps of an attempt whose answer was refused (re-asked)."""
    completion = outcome.completion
    return {
        "attempt": outcome.attempts,
        "error": str(outcome.error),
        "response": None if completion is None else completion.text,
        "usage": {
            "input_tokens": None if completion is None else completion.input_tokens,
            "output_tokens": None if completion is None else completion.output_tokens,
        },
        "finish_reason": None if completion is None else completion.finish_reason,
        "cost_usd": None if outcome.cost_usd is None else round(outcome.cost_usd, 10),
        "batch_id": outcome.batch_id,
    }


def add_refused(
    outcome: Outcome, refused: list[dict[str, Any]] | None, billed: float = 0.0
) -> None:
    """Put the earlier refused attempts on the final ``outcome``; its cost counts theirs,
    and ``billed``: what its earlier failed attempts were billed."""
    if billed and outcome.cost_usd is not None:
        outcome.cost_usd += billed
    if not refused:
        return
    outcome.structured = True
    outcome.rejected = refused
    costs = [r["cost_usd"] for r in refused] + [outcome.cost_usd]
    outcome.cost_usd = None if any(c is None for c in costs) else sum(costs)
