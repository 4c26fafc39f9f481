"""Estimating a request's tokens before it is sent: the default rule of every provider.

Providers with a rule of their own override ``Provider.estimate_tokens`` (OpenAI-style APIs:
the characters of the request body / 4, plus ``max_tokens``, as OpenAI documents its TPM).
"""

from __future__ import annotations

from typing import Any

from runner.engine.quota import TokenEstimate
from runner.prompts.records import PromptRecord

# About four characters a token for English text with common tokenizers; the estimate only
# needs to be the right size, since the API's reported usage corrects it afterwards.
CHARS_PER_TOKEN = 4.0
PER_MESSAGE_OVERHEAD = 4


def _text_length(prompt: Any) -> tuple[int, int]:
    """(characters, messages) of a prompt of any form."""
    if isinstance(prompt, str):
        return len(prompt), 1
    if isinstance(prompt, list):
        chars = messages = 0
        for part in prompt:
            if isinstance(part, str):
                chars, messages = chars + len(part), messages + 1
            elif isinstance(part, dict):
                content = part.get("content", "")
                chars += len(content) if isinstance(content, str) else len(str(content))
                messages += 1
        return chars, messages
    return len(str(prompt)), 1


def answer_tokens(record: PromptRecord, output_estimate: int) -> float:
    """The most one answer may take: ``max_tokens`` (or its aliases), else the estimate."""
    params = record.parameters
    answer = (
        params.get("max_tokens")
        or params.get("max_completion_tokens")
        or params.get("max_output_tokens")
        or output_estimate
    )
    try:
        return float(answer)
    except (TypeError, ValueError):
        return float(output_estimate)


def turns(record: PromptRecord) -> int:
    """Requests a record takes: one per user turn of a multi-turn prompt, else one."""
    prompt = record.prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return len(prompt)
    return 1


def estimate_split(record: PromptRecord, output_estimate: int) -> TokenEstimate:
    """Prompt tokens (chars / 4 plus a little per message) and the most the answer may take."""
    chars, messages = _text_length(record.prompt)
    prompt_tokens = chars / CHARS_PER_TOKEN + PER_MESSAGE_OVERHEAD * messages
    n = turns(record)
    return TokenEstimate(prompt_tokens * n, answer_tokens(record, output_estimate) * n)


def estimate_tokens(record: PromptRecord, output_estimate: int) -> float:
    """Prompt tokens plus the most the answer may take (``max_tokens`` or the estimate)."""
    split = estimate_split(record, output_estimate)
    return split.input + split.output
