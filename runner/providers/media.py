"""Multimodal prompts: the parts of a message's content, and the media files they name.

Records reach providers with their content in the canonical shape of
:mod:`runner.prompts.parts` (every prompto part form is accepted there)::

    {"type": "text", "text": "What is in this picture?"}
    {"type": "image", "media": "cats/tabby.png"}          # a file in the media folder
    {"type": "image", "url": "https://example.org/a.jpg"}  # a URL, for APIs that take one
    {"type": "video", "media": "clip.mp4"}                 # Gemini / Vertex AI only
    {"type": "audio", "media": "talk.mp3", "uploaded_filename": "files/abc"}  # Gemini

A media part may add ``"mime_type"`` when the file or URL has no telling extension.
Providers turn these parts into their own API's shapes; this module only reads and checks.
"""

from __future__ import annotations

import base64
import functools
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.config.schema import RunConfig
from runner.errors import ErrorKind, ProviderError

# The image types every multimodal API here accepts.
IMAGE_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True)
class Text:
    """A text part."""

    text: str


@dataclass(frozen=True)
class Image:
    """A media part (an image, or for Gemini also video, audio or any file): inline base64
    ``data`` read from a file or a ``data:`` URL, or a ``url``."""

    mime_type: str | None
    data: str | None = None
    url: str | None = None
    kind: str = "image"
    detail: str | None = None

    @property
    def data_url(self) -> str:
        """The image as one URL: its own, or a ``data:`` URL of the file's bytes."""
        if self.url:
            return self.url
        return f"data:{self.mime_type};base64,{self.data}"


Part = Text | Image


def mime_type_of(name: str, declared: Any = None) -> str | None:
    """The MIME type of a file or URL: the declared one, else guessed from its extension."""
    if isinstance(declared, str) and declared:
        return declared
    guessed, _ = mimetypes.guess_type(name.split("?", 1)[0])
    return guessed


def media_folder(settings: RunConfig) -> Path:
    """The run's media folder (``media_dir``, relative to the current folder)."""
    return _folder(settings.media_dir)


# Asked for every request and every check: a Path made once per setting, not per prompt.
@functools.lru_cache(maxsize=8)
def _folder(media_dir: str) -> Path:
    return Path(media_dir).expanduser()


def media_path(media_dir: Path, name: str) -> Path:
    """Where a ``media`` reference points: absolute as given, else inside ``media_dir``."""
    path = Path(name).expanduser()
    return path if path.is_absolute() else media_dir / path


# Small on purpose: images can be megabytes each. The read is synchronous: image files are
# small and local, and the cache means each is read once for all turns and retries.
@functools.lru_cache(maxsize=32)
def _encoded(path: str, mtime_ns: int, size: int) -> str:
    """The base64 text of a file; cached by path, time and size so retries read it once."""
    del mtime_ns, size  # part of the cache key only
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _data_url(url: str) -> tuple[str | None, str] | None:
    """(MIME type, base64 data) of a ``data:...;base64,`` URL, else None."""
    head, sep, data = url.partition(",")
    if not url.startswith("data:") or not sep or not head.endswith(";base64"):
        return None
    return head.removeprefix("data:").removesuffix(";base64") or None, data


def load_image(part: dict[str, Any], media_dir: Path) -> Image:
    """The :class:`Image` of a media part, reading its file when it names one.

    Raises:
        ProviderError: the file vanished since the pre-flight check (fatal: retrying won't help).
    """
    kind = str(part.get("type", "image"))
    detail = part.get("detail")
    url = part.get("url")
    if isinstance(url, str) and url:
        inline = _data_url(url)
        if inline:
            return Image(part.get("mime_type") or inline[0], data=inline[1], kind=kind)
        return Image(mime_type_of(url, part.get("mime_type")), url=url, kind=kind, detail=detail)
    name = str(part.get("media"))
    path = media_path(media_dir, name)
    try:
        stat = path.stat()
        data = _encoded(str(path), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise ProviderError(f"cannot read media file {path}: {exc}", ErrorKind.FATAL) from None
    return Image(mime_type_of(name, part.get("mime_type")), data=data, kind=kind, detail=detail)


def parts(content: Any, media_dir: Path) -> list[Part]:
    """A message's (canonical) content as parts; a string is one text part."""
    if isinstance(content, str):
        return [Text(content)]
    found: list[Part] = []
    for part in content:
        if part.get("type") == "text":
            found.append(Text(str(part["text"])))
        else:
            found.append(load_image(part, media_dir))
    return found


def text_of(content: Any) -> str:
    """Only the text of a message's content (for places that take no images)."""
    if isinstance(content, str):
        return content
    return "\n".join(str(p["text"]) for p in content if p.get("type") == "text")


def media_parts(prompt: Any) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """``(message index, part index, part)`` for every media part of a chat-messages prompt."""
    if not isinstance(prompt, list):
        return
    for i, message in enumerate(prompt):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict) and part.get("type", "text") != "text":
                    yield i, j, part


def has_images(prompt: Any) -> bool:
    """Whether a prompt holds any media part."""
    return any(True for _ in media_parts(prompt))


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{size:,} bytes"


def media_problems(
    prompt: Any,
    media_dir: Path,
    *,
    api: str,
    urls: bool = True,
    images: bool = True,
    kinds: frozenset[str] = frozenset({"image"}),
    mime_types: frozenset[str] | None = IMAGE_MIME_TYPES,
    max_inline_bytes: int | None = None,
    uploads: bool = False,
) -> list[str]:
    """What stops the media of a (canonical) prompt from being sent: missing files, types.

    Args:
        prompt: the record's prompt (already of a valid form, canonical).
        media_dir: the folder ``media`` names are relative to.
        api: the API's name, for messages.
        urls: whether the API takes media by URL.
        images: whether the API takes media at all.
        kinds: the part types it takes (image, video, audio, file).
        mime_types: the MIME types it takes; None: any type it can be told.
        max_inline_bytes: the largest file it takes inline when it has no File API.
        uploads: whether it takes ``uploaded_filename`` (files already in the File API).
    """
    if not isinstance(prompt, list):  # a plain string prompt (most prompts) has no media
        return []
    found: list[str] = []
    for i, j, part in media_parts(prompt):
        where = f"'prompt'[{i}] part {j}"
        kind = str(part.get("type"))
        if not images:
            article = "an" if kind[0] in "aeiou" else "a"
            found.append(f"{where} is {article} {kind} part, and api {api!r} takes text only")
            continue
        if kind not in kinds:
            found.append(
                f"{where} must be text or {' or '.join(sorted(kinds))} for api {api!r}; "
                f"it takes no {kind} parts"
            )
            continue
        if part.get("uploaded_filename"):
            if not uploads:
                found.append(
                    f"{where}: api {api!r} takes no 'uploaded_filename' (a Gemini File API "
                    "file); name the local file with 'media' instead"
                )
            continue
        url = part.get("url")
        if isinstance(url, str) and url:
            found += _url_problems(where, url, kind, media_dir, api=api, urls=urls)
            continue
        found += _file_problems(
            where, part, media_dir, api=api, mime_types=mime_types, max_bytes=max_inline_bytes
        )
    return found


def _url_problems(
    where: str, url: str, kind: str, media_dir: Path, *, api: str, urls: bool
) -> list[str]:
    if url.startswith("data:"):
        if _data_url(url) is None:
            return [f"{where}: a data: URL must be data:<type>;base64,<data>"]
        return []
    if not urls:
        return [
            f"{where}: api {api!r} takes no {kind} URLs; download {url} into the "
            f"media folder ({media_dir}) and name it with 'media'"
        ]
    if not url.startswith(("http://", "https://", "gs://")):
        return [f"{where}: {kind} url {url!r} must start with http:// or https://"]
    return []


def _file_problems(
    where: str,
    part: dict[str, Any],
    media_dir: Path,
    *,
    api: str,
    mime_types: frozenset[str] | None,
    max_bytes: int | None,
) -> list[str]:
    name = str(part.get("media"))
    path = media_path(media_dir, name)
    if not path.is_file():
        return [
            f"{where}: media file {name!r} not found at {path}; put it there or set "
            "media_dir=<folder>"
        ]
    mime = mime_type_of(name, part.get("mime_type"))
    if mime is None or (mime_types is not None and mime not in mime_types):
        allowed = ", ".join(sorted(mime_types)) if mime_types else "a known MIME type"
        return [
            f"{where}: media file {name!r} has type {mime or 'unknown'}; use one of "
            f"{allowed} (or set 'mime_type' on the part)"
        ]
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        return [
            f"{where}: media file {name!r} is {_megabytes(size)}, over the "
            f"{_megabytes(max_bytes)} api {api!r} takes inline, and it has no File API; "
            "put it in Cloud Storage and name it by its gs:// URI"
        ]
    return []
