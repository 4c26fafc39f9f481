"""Every content-part form prompto accepts, brought to one canonical shape.

prompto's APIs each take their own part forms; a prompto user's files mix them freely:

- a bare string inside a content list (a text part);
- OpenAI's ``{"type": "image_url", "image_url": "file.jpg" | {"url": ..., "detail": ...}}``;
- Anthropic's ``{"type": "image", "source": {"media": "file.jpg", "media_type": ...}}``;
- Gemini's and Vertex AI's messages ``{"role": ..., "parts": <string, part or list>}`` with
  role ``model`` for the assistant, parts ``{"type": "text", "media": "..."}``,
  ``{"type": "image"|"video"|"audio", "media": "file"}``, ``{"type": "uri", "media": "gs://..",
  "mime_type": ..}`` and ``uploaded_filename`` (a file already in the Gemini File API);
- runner's own ``{"type": "text", "text": ...}`` and ``{"type": "image", "media"|"url": ...}``.

The canonical part is a dict: ``{"type": "text", "text": str}``, or a media part
``{"type": "image"|"video"|"audio"|"file", "media": <file> | "url": <URL>, "mime_type"?,
"uploaded_filename"?, "detail"?}``. Messages become ``{"role": "system"|"user"|"assistant",
"content": str | [parts]}``. Providers only ever see the canonical form.
"""

from __future__ import annotations

from typing import Any

MEDIA_KINDS = frozenset({"image", "video", "audio", "file"})
ROLE_ALIASES = {"model": "assistant"}
# A ``media`` value with one of these prefixes is a remote file, not one in media_dir.
URL_PREFIXES = ("http://", "https://", "gs://", "data:")


class PartFormError(ValueError):
    """A part or message that no prompto API accepts; the message says what would."""


def _media_part(kind: str, where: str, value: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """A media part from a file name or URL, keeping the optional keys prompto knows."""
    uploaded = extra.get("uploaded_filename")
    if not (isinstance(value, str) and value) and not uploaded:
        raise PartFormError(f"{where} (a {kind} part) needs 'media' (a file name) or 'url'")
    part: dict[str, Any] = {"type": kind}
    if isinstance(value, str) and value:
        part["url" if value.startswith(URL_PREFIXES) else "media"] = value
    for key in ("mime_type", "detail"):
        if isinstance(extra.get(key), str) and extra[key]:
            part[key] = extra[key]
    if uploaded is not None:
        if not isinstance(uploaded, str) or not uploaded:
            raise PartFormError(f"{where}: 'uploaded_filename' must be a File API name")
        part["uploaded_filename"] = uploaded
    return part


def _image_url_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    """OpenAI's image_url part: a file under media_dir, an https URL, or a data: URL."""
    value = part.get("image_url")
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict) or not isinstance(value.get("url"), str) or not value["url"]:
        raise PartFormError(
            f"{where} has type 'image_url' but no 'image_url' (a file name or {{'url': ...}})"
        )
    return _media_part("image", where, value["url"], {**part, **value})


def _source_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    """Anthropic's image part: ``source`` names a file and its media type."""
    source = part["source"]
    if not isinstance(source, dict):
        raise PartFormError(f"{where}: 'source' must be an object with 'media' and 'media_type'")
    value = source.get("media") or source.get("url")
    extra = {"mime_type": source.get("media_type") or part.get("mime_type")}
    return _media_part("image", where, value, extra)


def canonical_part(part: Any, where: str) -> dict[str, Any]:
    """One part of a message's content in the canonical shape.

    Raises:
        PartFormError: an unknown part type or a part missing what its type needs.
    """
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, dict):
        raise PartFormError(f"{where} is a {type(part).__name__}; a part is a string or object")
    kind = part.get("type")
    if kind == "text":
        # prompto's Gemini and Vertex AI parts carry their text under 'media'.
        text = part.get("text", part.get("media"))
        if not isinstance(text, str):
            raise PartFormError(f"{where} has type 'text' but no string 'text'")
        return {"type": "text", "text": text}
    if kind == "image_url":
        return _image_url_part(part, where)
    if kind == "image" and "source" in part:
        return _source_part(part, where)
    if kind == "uri":
        return _media_part("file", where, part.get("media") or part.get("url"), part)
    if kind in MEDIA_KINDS:
        sources = [k for k in ("media", "url") if isinstance(part.get(k), str) and part[k]]
        if len(sources) > 1:
            raise PartFormError(f"{where} (a {kind} part) needs one of 'media' or 'url', not both")
        return _media_part(kind, where, part.get(sources[0]) if sources else None, part)
    raise PartFormError(
        f"{where} has an unknown part type {kind!r}; use a string, 'text', 'image', 'video', "
        "'audio', 'uri' or 'image_url' (see docs/prompts.md)"
    )


def canonical_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    """A message's content (a string, one part, or a list of parts) in the canonical shape."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list) or not content:
        raise PartFormError(f"{where}: 'content' must be a string or a non-empty list of parts")
    return [canonical_part(p, f"{where} part {j}") for j, p in enumerate(content)]


def canonical_message(message: Any, where: str) -> dict[str, Any]:
    """A chat message with role and content; ``parts`` and role ``model`` as prompto's Gemini."""
    if not isinstance(message, dict):
        raise PartFormError(f"{where} is a {type(message).__name__}; mix no strings with messages")
    role = message.get("role")
    role = ROLE_ALIASES.get(role, role) if isinstance(role, str) else role
    if "content" in message:
        content = message["content"]
    elif "parts" in message:
        content = message["parts"]
    else:
        raise PartFormError(f"{where} has no 'content' (or Gemini's 'parts')")
    return {"role": role, "content": canonical_content(content, where)}


def canonical_prompt(prompt: Any) -> Any:
    """A prompt with every message in the canonical shape; strings and turn lists as they are.

    Raises:
        PartFormError: a message or part of no form any prompto API accepts.
    """
    if not isinstance(prompt, list) or all(isinstance(p, str) for p in prompt):
        return prompt
    return [canonical_message(m, f"'prompt'[{i}]") for i, m in enumerate(prompt)]
