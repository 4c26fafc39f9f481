"""A prompt and its answer as a conversation: turns with a role and text, never raw JSON."""

from __future__ import annotations

import json
from typing import Any

from runner.wire_json import std_loads


def pretty_json(value: Any) -> str:
    """Indented JSON (for parameters, tool arguments, parsed output); a string as is."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = std_loads(value)
        except json.JSONDecodeError:
            return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False)


def _content(content: Any) -> tuple[str, list[str]]:
    """The text of a message's content and the names of its media parts."""
    if isinstance(content, str):
        return content, []
    texts, media = [], []
    for part in content if isinstance(content, list) else [content]:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            if "text" in part and isinstance(part["text"], str):
                texts.append(part["text"])
            else:
                name = part.get("media") or part.get("url") or part.get("type") or "part"
                media.append(name if isinstance(name, str) else json.dumps(name))
    return "\n".join(texts), media


IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"})


def is_image(name: str) -> bool:
    """A media file the viewer shows as a thumbnail (never SVG: it can carry script)."""
    if "://" in name or name.startswith(("data:", "gs:")):
        return False
    return any(name.lower().endswith(suffix) for suffix in IMAGE_SUFFIXES)


def _message(item: Any, default_role: str) -> dict[str, Any]:
    if isinstance(item, dict):
        role = str(item.get("role") or default_role)
        text, media = _content(item.get("content", item.get("parts", "")))
        return {"role": role, "text": text, "media": media}
    text, media = _content(item)
    return {"role": default_role, "text": text, "media": media}


def conversation(prompt: Any, response: Any) -> list[dict[str, Any]]:
    """The turns of a prompt and its answer, in order: system, user, assistant, ...

    A string prompt is one user turn; a list of strings is a multi-turn prompt whose replies
    are the answer's list; a list of role/content messages is a chat.
    """
    replies = response if isinstance(response, list) else [response]
    turns: list[dict[str, Any]] = []
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        for i, text in enumerate(prompt):
            turns.append({"role": "user", "text": text, "media": []})
            if i < len(replies) and replies[i] is not None:
                turns.append(_message(replies[i], "assistant"))
        return turns
    if isinstance(prompt, list):
        turns = [_message(m, "user") for m in prompt]
    elif prompt is not None:
        turns = [_message(prompt, "user")]
    for reply in replies:
        if reply is not None:
            turns.append(_message(reply, "assistant"))
    return turns


def as_text(value: Any) -> str:
    """A prompt or answer cell as text: JSON turns or chats one per paragraph, never JSON."""
    if not isinstance(value, str) or not value.startswith(("[", "{")):
        return "" if value is None else str(value)
    try:
        parsed = std_loads(value)  # an answer of [[[[... is text here
    except json.JSONDecodeError:
        return value  # cut short for the page, or not JSON at all
    if isinstance(parsed, list):
        turns = [_message(item, "") for item in parsed]
        return "\n\n".join(
            (f"{t['role']}: " if t["role"] else "")
            + t["text"]
            + "".join(f" [media: {m}]" for m in t["media"])
            for t in turns
        )
    return value
