"""What an answer carries beside its text: tool calls and thinking, in one shape for all APIs."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from runner.wire_json import std_loads


def tool_call(name: Any, arguments: Any) -> dict[str, Any]:
    """A tool call as result lines keep it: ``{"name", "arguments"}``, arguments as an object.

    OpenAI sends the arguments as a JSON string; the other APIs send an object.
    A string that is not JSON (a model may write broken arguments) is kept as it came.
    """
    if isinstance(arguments, str):
        with contextlib.suppress(json.JSONDecodeError):
            arguments = std_loads(arguments) if arguments.strip() else {}  # [[[[... too
    return {"name": str(name or ""), "arguments": {} if arguments is None else arguments}


def joined(pieces: list[str]) -> str | None:
    """Text pieces (thinking blocks, summary parts) as one text; None when there are none."""
    kept = [p for p in pieces if p]
    return "\n\n".join(kept) if kept else None


def tier_of(body: dict[str, Any]) -> str | None:
    """The ``service_tier`` an answer says served it (OpenAI; None: it says none)."""
    tier = body.get("service_tier")
    return tier if isinstance(tier, str) else None
