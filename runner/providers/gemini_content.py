"""Gemini's request body, shared by ``api: gemini`` and ``api: vertexai``.

Parts become ``text``, ``inlineData`` (base64 with its MIME type) or ``fileData`` (a URI: a
URL, a ``gs://`` object, or a file in the Gemini File API). ``safety_filter`` on a record
becomes ``safetySettings`` exactly as prompto's Gemini and Vertex AI APIs set them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from runner.providers import media
from runner.providers.messages import Message

ROLES = {"user": "user", "assistant": "model"}
HARM_CATEGORIES = (
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
)
# prompto's safety_filter values and the threshold each sets on every category.
SAFETY_THRESHOLDS = {
    "none": "BLOCK_NONE",
    "few": "BLOCK_ONLY_HIGH",
    "some": "BLOCK_MEDIUM_AND_ABOVE",
    "default": "BLOCK_MEDIUM_AND_ABOVE",
    "most": "BLOCK_LOW_AND_ABOVE",
}
# Request fields of generateContent that are not generation settings.
TOP_LEVEL_PARAMETERS = frozenset({"tools", "toolConfig", "tool_config"})
# Turns a media part too large to go inline (or an uploaded_filename) into a fileData part.
FileResolver = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def safety_problem(data: Mapping[str, Any]) -> str | None:
    """What is wrong with a record's ``safety_filter``, if anything."""
    value = data.get("safety_filter")
    if value is None or value in SAFETY_THRESHOLDS:
        return None
    return (
        f"field 'safety_filter' is {value!r}; use one of "
        f"{', '.join(repr(k) for k in SAFETY_THRESHOLDS)} (as in prompto)"
    )


def safety_settings(value: Any) -> list[dict[str, str]]:
    """``safetySettings`` for a ``safety_filter`` value (None: prompto's ``default``)."""
    threshold = SAFETY_THRESHOLDS[str(value or "default")]
    return [{"category": c, "threshold": threshold} for c in HARM_CATEGORIES]


def needs_file_api(part: dict[str, Any], media_dir: Path, inline_limit: int) -> bool:
    """Whether a media part goes by the File API: uploaded already, or over the inline limit."""
    if part.get("uploaded_filename"):
        return True
    name = part.get("media")
    if not name or part.get("url"):
        return False
    path = media.media_path(media_dir, str(name))
    return path.is_file() and path.stat().st_size > inline_limit


async def gemini_parts(
    content: Any, media_dir: Path, inline_limit: int, resolve: FileResolver | None
) -> list[dict[str, Any]]:
    """A message's content as Gemini parts: text, inline base64 data, or a file URI."""
    if isinstance(content, str):
        return [{"text": content}]
    shaped: list[dict[str, Any]] = []
    for raw in content:
        is_media = raw.get("type") != "text"
        if resolve is not None and is_media and needs_file_api(raw, media_dir, inline_limit):
            shaped.append(await resolve(raw))
            continue
        part = media.parts([raw], media_dir)[0]
        if isinstance(part, media.Text):
            shaped.append({"text": part.text})
        elif part.url:
            shaped.append({"fileData": {"mimeType": part.mime_type, "fileUri": part.url}})
        else:
            shaped.append({"inlineData": {"mimeType": part.mime_type, "data": part.data}})
    return shaped


async def gemini_payload(
    messages: list[Message],
    params: Mapping[str, Any],
    media_dir: Path,
    *,
    safety_filter: Any = None,
    inline_limit: int,
    resolve: FileResolver | None = None,
) -> dict[str, Any]:
    """The request body: the system message to ``systemInstruction``, roles user/model."""
    payload: dict[str, Any] = {}
    turns = list(messages)
    if turns and turns[0]["role"] == "system":
        system = turns.pop(0)["content"]
        payload["systemInstruction"] = {
            "parts": await gemini_parts(system, media_dir, inline_limit, resolve)
        }
    payload["contents"] = [
        {
            "role": ROLES[m["role"]],
            "parts": await gemini_parts(m["content"], media_dir, inline_limit, resolve),
        }
        for m in turns
    ]
    payload["safetySettings"] = safety_settings(safety_filter)
    # Tools sit beside generationConfig in the request; every other parameter is a
    # generation setting (temperature, maxOutputTokens, thinkingConfig, ...).
    payload.update({k: v for k, v in params.items() if k in TOP_LEVEL_PARAMETERS})
    generation = {k: v for k, v in params.items() if k not in TOP_LEVEL_PARAMETERS}
    if generation:
        payload["generationConfig"] = generation
    return payload
