"""Reasoning settings the APIs refuse, found before anything is sent (``runner.check``).

Each rule is the provider's documented one:

- OpenAI's o-series and GPT-5 reasoning models refuse ``max_tokens`` on chat completions and
  want ``max_completion_tokens`` (which counts the reasoning tokens too):
  https://platform.openai.com/docs/guides/reasoning and the ``max_tokens`` entry of
  https://platform.openai.com/docs/api-reference/chat/create.
- Anthropic's extended thinking: ``budget_tokens`` at least 1,024 and below ``max_tokens``;
  not compatible with ``temperature`` (other than 1) or ``top_k``; ``top_p`` only between
  0.95 and 1; no forced tool use (``tool_choice`` any / tool):
  https://docs.claude.com/en/docs/build-with-claude/extended-thinking.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# o1, o3-mini, o4-mini, gpt-5, gpt-5-mini, gpt-5.1 ... (a provider prefix such as
# ``openai/`` allowed); GPT-5's chat models (gpt-5-chat-latest) are not reasoning models.
_REASONING_MODEL = re.compile(r"^(?:[\w.-]+/)?(?:o\d|gpt-5)(?![\w.-]*-chat)", re.IGNORECASE)
ANTHROPIC_MIN_BUDGET = 1024


def is_reasoning_model(model_name: str | None) -> bool:
    """Whether an OpenAI model name is an o-series or GPT-5 reasoning model."""
    return bool(model_name) and _REASONING_MODEL.match(str(model_name)) is not None


def openai_problems(model_name: str | None, params: Mapping[str, Any], endpoint: str) -> list[str]:
    """What an OpenAI reasoning model refuses in ``params`` (``endpoint``: chat or responses)."""
    found: list[str] = []
    if endpoint == "chat" and "max_tokens" in params and is_reasoning_model(model_name):
        found.append(
            f"field 'parameters.max_tokens': {model_name!r} is an o-series / GPT-5 reasoning "
            "model, which refuses max_tokens on chat completions; write "
            "max_completion_tokens instead (it counts the reasoning tokens too)"
        )
    effort = params.get("reasoning_effort")
    if effort is not None and not isinstance(effort, str):
        found.append(
            f"field 'parameters.reasoning_effort' must be a word such as low, medium or high, "
            f"got {effort!r}"
        )
    reasoning = params.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, Mapping):
        found.append(
            "field 'parameters.reasoning' must be an object such as {effort: low} "
            f"(the Responses API's form), got {reasoning!r}"
        )
    return found


def anthropic_problems(params: Mapping[str, Any], default_max_tokens: int) -> list[str]:
    """What Anthropic refuses in ``params`` when ``thinking`` is on."""
    thinking = params.get("thinking")
    if thinking is None:
        return []
    if not isinstance(thinking, Mapping) or not isinstance(thinking.get("type"), str):
        return [
            "field 'parameters.thinking' must be an object such as "
            f"{{type: enabled, budget_tokens: 2048}}, got {thinking!r}"
        ]
    kind = thinking["type"]
    if kind == "disabled":
        return []
    found = _budget_problems(thinking, params, default_max_tokens) if kind == "enabled" else []
    return found + _sampling_problems(params)


def _budget_problems(
    thinking: Mapping[str, Any], params: Mapping[str, Any], default_max_tokens: int
) -> list[str]:
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int):
        return [
            "field 'parameters.thinking.budget_tokens' must be a whole number of tokens "
            f"(at least {ANTHROPIC_MIN_BUDGET}), got {budget!r}"
        ]
    found: list[str] = []
    if budget < ANTHROPIC_MIN_BUDGET:
        found.append(
            f"field 'parameters.thinking.budget_tokens' is {budget}; Anthropic needs at least "
            f"{ANTHROPIC_MIN_BUDGET}"
        )
    max_tokens = params.get("max_tokens", default_max_tokens)
    if isinstance(max_tokens, int) and budget >= max_tokens:
        where = "parameters.max_tokens" if "max_tokens" in params else "the default max_tokens"
        found.append(
            f"field 'parameters.thinking.budget_tokens' ({budget}) must be below max_tokens "
            f"({max_tokens}, {where}): raise max_tokens (thinking counts in it) or lower the budget"
        )
    return found


def _sampling_problems(params: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    temperature = params.get("temperature")
    if temperature is not None and temperature != 1:
        found.append(
            f"field 'parameters.temperature' is {temperature!r}; with thinking on, Anthropic "
            "takes no temperature but 1: remove it (or set 1)"
        )
    if "top_k" in params:
        found.append("field 'parameters.top_k': with thinking on, Anthropic refuses top_k")
    top_p = params.get("top_p")
    if top_p is not None and not (isinstance(top_p, int | float) and 0.95 <= top_p <= 1):
        found.append(
            f"field 'parameters.top_p' is {top_p!r}; with thinking on, Anthropic takes top_p "
            "only between 0.95 and 1"
        )
    choice = params.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") in ("any", "tool"):
        found.append(
            f"field 'parameters.tool_choice' is {{type: {choice['type']}}}; with thinking on, "
            "Anthropic refuses forced tool use: use auto or none"
        )
    return found
