"""One prompt of an experiment, and the checks every record must pass before sending."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from runner.limits.tokens import bound_problem
from runner.prompts.parts import PartFormError, canonical_prompt

CHAT_ROLES = frozenset({"system", "user", "assistant"})
# The fields runner adds to each result line; an input key of the same name is kept in the
# output as ``input_<key>`` (see runner.output.results.result_line).
OUTPUT_FIELDS = frozenset(
    {
        "response", "status", "error", "error_kind", "attempts", "timestamp_sent",
        "timestamp_received", "latency_s", "usage", "finish_reason", "response_model",
        "run_id", "experiment", "rate_group", "prompt_key", "line", "cached",
        "cost_usd", "batch_id", "thinking", "tool_calls", "parsed", "rejected_outputs",
    }
)  # fmt: skip


@dataclass(slots=True)
class PromptRecord:
    """A record of an experiment file.

    Attributes:
        data: the record as the user wrote it (every key is carried to the output).
        source: the file it came from, for error messages.
        line: its line number in that file (1-based; for CSV, the row's first line).
        key: its key, when known already (a record read back from the plan's spool);
            "": :func:`prompt_key` of ``data``.
    """

    data: dict[str, Any]
    source: str = "<memory>"
    line: int = 0
    key: str = ""

    def __post_init__(self) -> None:
        # A record without an id is keyed by a hash of its content: not worked out twice.
        if not self.key:
            self.key = prompt_key(self.data)

    def make_key_unique(self) -> None:
        """Tell this record from an earlier one with the same ``id``: its key adds its line."""
        self.key = f"{self.key}@line{self.line}"

    @property
    def where(self) -> str:
        """``file:line`` for messages."""
        return f"{self.source}:{self.line}"

    @property
    def prompt(self) -> Any:
        """The prompt with its messages in the canonical shape (see runner.prompts.parts).

        A prompt of no known form is returned as written (the check reports it).
        """
        raw = self.data.get("prompt")
        try:
            return canonical_prompt(raw)
        except PartFormError:
            return raw

    @property
    def api(self) -> str:
        return str(self.data.get("api", ""))

    @property
    def model_name(self) -> str | None:
        value = self.data.get("model_name")
        return None if value is None else str(value)

    @property
    def parameters(self) -> dict[str, Any]:
        value = self.data.get("parameters")
        return value if isinstance(value, dict) else {}

    @property
    def group(self) -> str | None:
        value = self.data.get("group")
        return None if value in (None, "") else str(value)


def prompt_key(data: dict[str, Any]) -> str:
    """A stable key: the record's ``id``, else a hash of its content."""
    if data.get("id") not in (None, ""):
        return str(data["id"])
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return "h-" + hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()


def _content_problem(content: Any, role: str) -> str | None:
    """What is wrong with a canonical message's content: media in a non-user message."""
    if isinstance(content, str):
        return None
    for j, part in enumerate(content):
        if part["type"] != "text" and role != "user":
            kind = part["type"]
            article = "an" if kind[0] in "aeiou" else "a"
            return f"part {j} is {article} {kind} in a {role} message; media go in user messages"
    return None


def prompt_form_problem(prompt: Any) -> str | None:
    """What is wrong with a prompt's form, or None when it is one of the three forms.

    The forms: a string; a list of strings (a multi-turn conversation); a list of chat
    messages ``{"role": ..., "content": ...}`` (or Gemini's ``{"role": ..., "parts": ...}``)
    whose content is a string or a list of parts of any form prompto accepts.
    """
    if isinstance(prompt, str):
        return None if prompt.strip() else "'prompt' is an empty string"
    if not isinstance(prompt, list) or not prompt:
        return (
            "'prompt' must be a string, a list of strings, or a list of "
            f"{{'role', 'content'}} messages; got {type(prompt).__name__}"
        )
    try:
        messages = canonical_prompt(prompt)
    except PartFormError as exc:
        return str(exc)
    if all(isinstance(p, str) for p in messages):
        return None
    for i, message in enumerate(messages):
        role = message["role"]
        if role not in CHAT_ROLES:
            return (
                f"'prompt'[{i}] has role {role!r}; use one of {sorted(CHAT_ROLES)} "
                "(or 'model' for the assistant)"
            )
        problem = _content_problem(message["content"], role)
        if problem:
            return f"'prompt'[{i}] {problem}"
        if role == "system" and i != 0:
            return f"'prompt'[{i}] is a system message; a system message must come first"
    if messages[-1]["role"] != "user":
        return "the last message of 'prompt' must have role 'user'"
    return None


def record_problems(record: PromptRecord, known_apis: frozenset[str]) -> list[str]:
    """Every problem of a record that needs no provider to find."""
    data = record.data
    problems: list[str] = []
    if "prompt" not in data:
        problems.append("missing field 'prompt'")
    else:
        problem = prompt_form_problem(data["prompt"])
        if problem:
            problems.append(problem)
    api = data.get("api")
    if api in (None, ""):
        problems.append("missing field 'api'")
    elif not isinstance(api, str):
        problems.append(f"field 'api' must be a string, got {api!r}")
    elif api not in known_apis:
        problems.append(f"unknown api {api!r}; known: {', '.join(sorted(known_apis))}")
    if "parameters" in data and not isinstance(data["parameters"], dict):
        problems.append("field 'parameters' must be an object (a dict of model parameters)")
    elif isinstance(data.get("parameters"), dict):
        problem = bound_problem(data["parameters"])
        problems += [problem] if problem else []
    if "model_name" in data and not isinstance(data["model_name"], str | int | float):
        problems.append("field 'model_name' must be a string")
    return [f"{record.where}: {p}" for p in problems]
