"""Estimating a request's tokens before it is sent: the default rule of every provider.

Providers with a rule of their own override ``Provider.estimate_tokens`` (OpenAI-style APIs:
the characters of the request body / 4, plus ``max_tokens``, as OpenAI documents its TPM).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.limits.quota import TokenEstimate

if TYPE_CHECKING:
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


# Parameters that bound an answer, reasoning or thinking included: OpenAI's max_tokens and
# max_completion_tokens (reasoning counts in it), the Responses API's max_output_tokens,
# Gemini's maxOutputTokens (thoughts count in it), Anthropic's max_tokens (thinking counts
# in it), Ollama's num_predict, TGI's max_new_tokens.
_BOUNDS = (
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "maxOutputTokens",
    "num_predict",
    "max_new_tokens",
)
# Where a thinking budget is given: Anthropic thinking.budget_tokens, Gemini
# thinkingConfig.thinkingBudget (either spelling).
_THINKING = (
    ("thinking", "budget_tokens"),
    ("thinkingConfig", "thinkingBudget"),
    ("thinking_config", "thinking_budget"),
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        found = float(value)
    except ValueError:
        return None
    return found if found >= 0 else None  # -1: Gemini's "dynamic", no bound


# Blocks of parameters that hold generation settings: Gemini's and Ollama's.
_NESTED = ("generationConfig", "generation_config", "options")


def _settings_of(params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The parameters and the blocks nested in them that hold generation settings."""
    found = [params]
    for name in _NESTED:
        nested = params.get(name)
        if isinstance(nested, Mapping):
            found.append(nested)
    return found


# Parameters sent as input the model reads (and is billed for): system prompts and tools.
_INPUT_PARAMETERS = (
    "system",
    "systemInstruction",
    "system_instruction",
    "tools",
    "functions",
    "tool_config",
    "toolConfig",
)


def _sent_parameter_length(params: Mapping[str, Any]) -> int:
    """Characters of the parameters a model reads as input (system prompts, tools)."""
    found = 0
    for name in _INPUT_PARAMETERS:
        value = params.get(name)
        if value is not None:
            found += len(value) if isinstance(value, str) else len(json.dumps(value, default=str))
    return found


def answer_bound(params: Mapping[str, Any]) -> float | None:
    """The most tokens an answer may take, reasoning included, when a parameter says so."""
    for block in _settings_of(params):
        for name in _BOUNDS:
            found = _number(block.get(name))
            if found is not None:
                return found
    return None


def bound_problem(params: Mapping[str, Any]) -> str | None:
    """What is wrong with a parameter that bounds the answer, or None.

    A bound is a whole number of tokens: ``max_tokens: "lots"``, ``true``, ``-5`` or
    ``1e308`` was sent as given (the API refuses it, or the budget and token limits had
    no bound to hold). Ollama's ``num_predict`` takes -1 and -2 (no bound, fill the context).
    """
    blocks = [("", params)] + [
        (f"{name}.", params[name]) for name in _NESTED if isinstance(params.get(name), Mapping)
    ]
    for prefix, block in blocks:
        for name in _BOUNDS:
            if name not in block:
                continue
            value = block[name]
            lowest = -2 if name == "num_predict" else 1
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and lowest <= value < 2**53 and value == int(value)):
                return (
                    f"parameters.{prefix}{name} is {value!r}; it bounds the answer's tokens: "
                    f"give a whole number of at least {lowest}"
                )
    return None


def thinking_budget(params: Mapping[str, Any]) -> float:
    """The thinking budget a prompt gives (0: none)."""
    for block in _settings_of(params):
        for outer, inner in _THINKING:
            config = block.get(outer)
            if isinstance(config, Mapping):
                found = _number(config.get(inner))
                if found is not None:
                    return found
    return 0.0


# Parameters asking for several answers to one request, each billed: OpenAI's ``n`` ("you
# will be charged based on the number of generated tokens across all of the choices",
# https://platform.openai.com/docs/api-reference/chat/create), Gemini's ``candidateCount``.
_CHOICES = ("n", "candidateCount", "candidate_count")


def choices(params: Mapping[str, Any]) -> float:
    """How many answers one request asks for (1 unless a parameter says more)."""
    for block in _settings_of(params):
        for name in _CHOICES:
            found = _number(block.get(name))
            if found is not None and found > 1:
                return found
    return 1.0


def answer_tokens(
    record: PromptRecord, output_estimate: int, default_max: int | None = None
) -> float:
    """The most one answer may take, thinking and reasoning included.

    A bound the prompt gives (``max_tokens``, ``max_completion_tokens``, Gemini's
    ``maxOutputTokens``, ...) or the api's own default (``default_max``, the one it sends),
    never less than the thinking budget; without one, the thinking budget plus
    ``output_tokens_estimate`` (a guess, not a bound). Times the answers asked for (``n``).
    """
    params = record.parameters
    bound = answer_bound(params)
    thinking = thinking_budget(params)
    if bound is None and default_max is not None:
        bound = float(default_max)
    if bound is None:
        return (float(output_estimate) + thinking) * choices(params)
    return max(bound, thinking) * choices(params)  # each choice up to the bound


def turns(record: PromptRecord) -> int:
    """Requests a record takes: one per user turn of a multi-turn prompt, else one."""
    prompt = record.prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return len(prompt)
    return 1


def conversation(prompt_tokens: float, answer: float, n: int) -> TokenEstimate:
    """The tokens of ``n`` requests of one conversation: each sends back every earlier answer.

    Turn k sends the prompt (counted whole each time, an upper bound) and the k - 1 answers
    before it, each at most ``answer``: n * prompt + answer * n(n - 1)/2 in, n answers out.
    """
    return TokenEstimate(prompt_tokens * n + answer * n * (n - 1) / 2, answer * n)


def estimate_split(
    record: PromptRecord, output_estimate: int, default_max: int | None = None
) -> TokenEstimate:
    """Prompt tokens (chars / 4 plus a little per message) and the most the answer may take."""
    chars, messages = _text_length(record.prompt)
    chars += _sent_parameter_length(record.parameters)
    prompt_tokens = chars / CHARS_PER_TOKEN + PER_MESSAGE_OVERHEAD * messages
    answer = answer_tokens(record, output_estimate, default_max)
    return conversation(prompt_tokens, answer, turns(record))


def estimate_tokens(record: PromptRecord, output_estimate: int) -> float:
    """Prompt tokens plus the most the answer may take (``max_tokens`` or the estimate)."""
    split = estimate_split(record, output_estimate)
    return split.input + split.output
