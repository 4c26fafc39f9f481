"""LLM-as-judge: render a template from a result line, and read the verdict from the answer."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.config.schema import EvaluationStepConfig, ModelConfig
from runner.evaluation.scorers import response_text
from runner.prompts.records import PromptRecord

# Placeholders every template may use, and the result-line key each one reads.
SPECIAL = {
    "INPUT_PROMPT": "prompt",
    "OUTPUT_RESPONSE": "response",
    "EXPECTED_RESPONSE": "expected_response",
}
# ``{name}`` with a plain identifier: other braces (JSON examples in a template) stay as is.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_SCORE_PATTERN = r"(?i)\bscore\b\W{0,3}(?P<verdict>[-+]?\d+(?:\.\d+)?)"


class VerdictError(ValueError):
    """The judge's answer holds no verdict the step can read."""


def placeholders(template: str) -> list[str]:
    """The names a template uses, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(template)))


def needed_keys(template: str) -> list[str]:
    """The record keys a template reads (``response`` is the run's own, so never missing)."""
    keys = [SPECIAL.get(name, name) for name in placeholders(template)]
    return [k for k in keys if k not in ("prompt", "response")]


def prompt_text(prompt: Any) -> str:
    """A prompt as text: a conversation as its turns, chat messages as ``role: content``."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return "\n".join(prompt)
    if isinstance(prompt, list):
        lines = []
        for message in prompt:
            content = message.get("content") if isinstance(message, dict) else message
            if isinstance(content, list):  # text and image parts: keep the text
                content = " ".join(
                    str(p.get("text", "")) for p in content if isinstance(p, dict)
                ).strip()
            role = message.get("role", "user") if isinstance(message, dict) else "user"
            lines.append(f"{role}: {content}")
        return "\n".join(lines)
    return json.dumps(prompt, ensure_ascii=False, default=str)


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def render(template: str, line: Mapping[str, Any]) -> str:
    """The template with every placeholder replaced by the line's value."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "INPUT_PROMPT":
            return prompt_text(line.get("prompt"))
        if name == "OUTPUT_RESPONSE":
            return response_text(line)
        return _value_text(line.get(SPECIAL.get(name, name)))

    return _PLACEHOLDER.sub(value, template)


def verdict_pattern(step: EvaluationStepConfig) -> re.Pattern[str]:
    """The pattern that finds the verdict: the step's own, else one from the verdict kind."""
    if step.pattern:
        return re.compile(step.pattern)
    if step.verdict == "label":
        alternatives = "|".join(re.escape(label) for label in step.labels)
        return re.compile(rf"(?i)\b(?P<verdict>{alternatives})\b")
    return re.compile(DEFAULT_SCORE_PATTERN)


def parse_verdict(
    text: str, step: EvaluationStepConfig, pattern: re.Pattern[str]
) -> dict[str, Any]:
    """The verdict field of a judge's answer: ``score`` (a number) or ``label``.

    Raises:
        VerdictError: nothing in ``text`` matches, or the match is not a number or a label.
    """
    found = pattern.search(text)
    if found is None:
        raise VerdictError(f"no verdict in the judge's answer (pattern {pattern.pattern!r})")
    if "verdict" in pattern.groupindex:
        raw = found.group("verdict")
    else:
        raw = found.group(1) if pattern.groups else found.group(0)
    raw = (raw or "").strip()
    if step.verdict == "label":
        for label in step.labels:
            if raw.casefold() == label.casefold():
                return {"label": label}
        if step.labels:
            raise VerdictError(f"verdict {raw!r} is not one of {step.labels}")
        return {"label": raw}
    try:
        return {"score": float(raw)}
    except ValueError:
        raise VerdictError(f"verdict {raw!r} is not a number") from None


@dataclass(frozen=True)
class JudgeRequest:
    """One queued judge prompt and the result line it judges."""

    step: str
    run_id: str
    prompt_key: str
    record: PromptRecord


def judge_record(
    step_name: str, step: EvaluationStepConfig, model: ModelConfig, line: Mapping[str, Any]
) -> PromptRecord:
    """The judge prompt for one result line, for the judge model's api and model_name."""
    template = step.template or ""
    data = {
        "id": f"{step_name}:{line.get('prompt_key', '')}",
        "api": model.api,
        "model_name": model.model_name,
        "prompt": render(template, line),
        "parameters": {**model.parameters, **step.parameters},
    }
    return PromptRecord(data, source=f"evaluation step {step_name}", line=int(line.get("line", 0)))
