"""Answers streamed in pieces, assembled as they arrive: tool calls, content blocks."""

from __future__ import annotations

from typing import Any

from runner.providers.answer_parts import joined, tool_call
from runner.providers.completion import Completion


class StreamedCalls:
    """OpenAI chat's tool calls, streamed as a name, then the arguments in fragments."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.arguments: dict[int, list[str]] = {}

    def add(self, deltas: Any) -> None:
        for delta in deltas if isinstance(deltas, list) else []:
            index = int(delta.get("index") or 0)
            function = delta.get("function") or {}
            if function.get("name"):
                self.names[index] = str(function["name"])
            self.arguments.setdefault(index, []).append(str(function.get("arguments") or ""))

    def calls(self) -> list[dict[str, Any]] | None:
        if not self.names:
            return None
        arguments = {i: "".join(pieces) for i, pieces in self.arguments.items()}
        return [tool_call(self.names[i], arguments.get(i, "")) for i in sorted(self.names)]


class StreamedBlocks:
    """An Anthropic message's streamed content blocks: text, thinking and tool_use, by index."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.thinking: dict[int, list[str]] = {}
        self.tools: dict[int, tuple[str, list[str]]] = {}

    def start(self, data: dict[str, Any]) -> None:
        block = data.get("content_block") or {}
        index = int(data.get("index") or 0)
        if block.get("type") == "tool_use":
            self.tools[index] = (str(block.get("name") or ""), [])
        elif block.get("type") == "thinking":
            self.thinking[index] = [str(block.get("thinking") or "")]

    def delta(self, data: dict[str, Any]) -> None:
        delta = data.get("delta") or {}
        index = int(data.get("index") or 0)
        kind = delta.get("type")
        if kind == "thinking_delta":
            self.thinking.setdefault(index, []).append(str(delta.get("thinking") or ""))
        elif kind == "input_json_delta" and index in self.tools:
            self.tools[index][1].append(str(delta.get("partial_json") or ""))
        else:
            self.text.append(str(delta.get("text") or ""))

    def fill(self, result: Completion) -> None:
        result.text = "".join(self.text)
        result.thinking = joined(["".join(self.thinking[i]) for i in sorted(self.thinking)])
        calls = [tool_call(name, "".join(parts)) for name, parts in self.tools.values()]
        result.tool_calls = calls or None
