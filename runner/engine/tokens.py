"""Estimating a request's tokens before it is sent (corrected later by the API's usage)."""

from __future__ import annotations

from typing import Any

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


def estimate_tokens(record: PromptRecord, output_estimate: int) -> float:
    """Prompt tokens plus the most the answer may take (``max_tokens`` or the estimate)."""
    chars, messages = _text_length(record.prompt)
    prompt_tokens = chars / CHARS_PER_TOKEN + PER_MESSAGE_OVERHEAD * messages
    params = record.parameters
    answer = params.get("max_tokens") or params.get("max_output_tokens") or output_estimate
    try:
        answer_tokens = float(answer)
    except (TypeError, ValueError):
        answer_tokens = float(output_estimate)
    turns = (
        messages
        if isinstance(record.prompt, list) and all(isinstance(p, str) for p in record.prompt)
        else 1
    )
    return prompt_tokens * turns + answer_tokens * turns
