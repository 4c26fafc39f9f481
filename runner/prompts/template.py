"""A template experiment's prompt: Jinja2 templates over a data row, sandboxed and strict.

Template text is data, never code: templates compile in Jinja2's sandbox (no attribute
access to Python internals) with ``StrictUndefined``, so a column a row lacks is an error
naming the template, the row's line and the column, not an empty string sent to a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from runner.errors import BadInputError

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_MISSING = re.compile(r"has no attribute '([^']+)'|'([^']+)' is undefined")


@dataclass(frozen=True)
class Template:
    """One variant of the prompt: a string template, or chat messages each a template."""

    variant: str  # "" when the prompt has no named variants
    parts: tuple[tuple[str | None, Any], ...]  # (role or None, compiled template)

    def render(self, columns: dict[str, Any], where: str) -> Any:
        """The prompt for one row.

        Raises:
            BadInputError: the row lacks a column the template uses (names all three).
        """
        try:
            rendered = [(role, t.render(columns)) for role, t in self.parts]
        except UndefinedError as exc:
            found = _MISSING.search(str(exc))
            column = next((g for g in found.groups() if g), None) if found else None
            named = f"column {column!r}" if column else str(exc)
            raise BadInputError(
                f"{where}: template {self.label} uses {named}, which this row does not have; "
                "nothing was sent"
            ) from None
        except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
            # The sandbox refusing an attribute, or an operation that fails on this row's
            # values: the template's problem, said in one line, never a crash.
            raise BadInputError(
                f"{where}: template {self.label} cannot be rendered for this row "
                f"({type(exc).__name__}: {exc}); nothing was sent"
            ) from None
        if self.parts[0][0] is None:
            return rendered[0][1]
        return [{"role": role, "content": text} for role, text in rendered]

    @property
    def label(self) -> str:
        return f"prompt.{self.variant}" if self.variant else "prompt"


def _yaml_line(source: Path | None, variant: str, line: int) -> str:
    """``file:line`` of a template's line in the experiment's YAML, as near as it is found."""
    if source is None or not source.is_file():
        return f"experiment.prompt (line {line} of the template)"
    lines = source.read_text(encoding="utf-8").splitlines()
    at = next((i for i, t in enumerate(lines) if re.match(r"\s*prompt\s*:", t)), None)
    if at is not None and variant:
        key = re.compile(rf"\s+{re.escape(variant)}\s*:")
        at = next((i for i in range(at + 1, len(lines)) if key.match(lines[i])), at)
    if at is None:
        return f"{source} (line {line} of the template)"
    block = lines[at].rstrip().endswith(("|", ">", "|-", ">-"))
    return f"{source}:{at + 1 + (line if block else line - 1)}"


def _compile(text: Any, variant: str, source: Path | None) -> Any:
    label = f"prompt.{variant}" if variant else "prompt"
    if not isinstance(text, str):
        raise BadInputError(
            f"experiment.{label}: a template must be text, got {type(text).__name__}"
        )
    try:
        return _ENV.from_string(text)
    except TemplateSyntaxError as exc:
        where = _yaml_line(source, variant, exc.lineno or 1)
        raise BadInputError(
            f"{where}: template {label} has bad syntax ({exc.message}); nothing was sent"
        ) from None


def _variant(value: Any, variant: str, source: Path | None) -> Template:
    if isinstance(value, list):
        parts: list[tuple[str | None, Any]] = []
        for i, message in enumerate(value):
            if not isinstance(message, dict) or set(message) != {"role", "content"}:
                raise BadInputError(
                    f"experiment.prompt{'.' + variant if variant else ''}[{i}]: a chat "
                    "message is {role, content} (content a template)"
                )
            role = str(message["role"])
            parts.append((role, _compile(message["content"], variant, source)))
        if not parts:
            raise BadInputError("experiment.prompt: an empty list of messages")
        return Template(variant, tuple(parts))
    return Template(variant, ((None, _compile(value, variant, source)),))


def compile_prompt(prompt: Any, selected: str = "", source: Path | None = None) -> list[Template]:
    """The prompt's variants, compiled (only ``selected`` when given).

    Args:
        prompt: a template, a list of chat messages, or a dict of named variants.
        selected: the variant to keep (``prompt_variant=NAME``); empty keeps every one.
        source: the experiment's YAML, for the line of a syntax error.

    Raises:
        BadInputError: bad template syntax (names file and line), an unknown variant.
    """
    if isinstance(prompt, dict):
        if not prompt:
            raise BadInputError("experiment.prompt: an empty dict of variants")
        if selected and selected not in prompt:
            raise BadInputError(
                f"prompt_variant={selected}: the experiment's prompt has no such variant; "
                f"it has {', '.join(map(str, prompt))}"
            )
        names = [selected] if selected else [str(k) for k in prompt]
        return [_variant(prompt[name], name, source) for name in names]
    if selected:
        raise BadInputError(
            f"prompt_variant={selected}: the experiment's prompt has no named variants"
        )
    return [_variant(prompt, "", source)]
