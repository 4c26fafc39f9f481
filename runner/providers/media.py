"""Multimodal prompts: the parts of a message's content, and the image files they name.

A chat message's ``content`` is a string or a list of parts (prompto's format, plus URLs)::

    {"type": "text", "text": "What is in this picture?"}
    {"type": "image", "media": "cats/tabby.png"}          # a file in the media folder
    {"type": "image", "url": "https://example.org/a.jpg"}  # a URL, for APIs that take one

An image part may add ``"mime_type"`` when the file or URL has no telling extension.
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
    """An image part: inline base64 ``data`` read from a file, or a ``url``."""

    mime_type: str | None
    data: str | None = None
    url: str | None = None

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
    return Path(settings.media_dir).expanduser()


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


def load_image(part: dict[str, Any], media_dir: Path) -> Image:
    """The :class:`Image` of an image part, reading its file when it names one.

    Raises:
        ProviderError: the file vanished since the pre-flight check (fatal: retrying won't help).
    """
    url = part.get("url")
    if isinstance(url, str) and url:
        return Image(mime_type_of(url, part.get("mime_type")), url=url)
    name = str(part.get("media"))
    path = media_path(media_dir, name)
    try:
        stat = path.stat()
        data = _encoded(str(path), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise ProviderError(f"cannot read media file {path}: {exc}", ErrorKind.FATAL) from None
    return Image(mime_type_of(name, part.get("mime_type")), data=data)


def parts(content: Any, media_dir: Path) -> list[Part]:
    """A message's content as parts; a string is one text part."""
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


def image_parts(prompt: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(message index, part)`` for every image part of a chat-messages prompt."""
    if not isinstance(prompt, list):
        return
    for i, message in enumerate(prompt):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image":
                    yield i, part


def has_images(prompt: Any) -> bool:
    """Whether a prompt holds any image part."""
    return any(True for _ in image_parts(prompt))


def media_problems(
    prompt: Any, media_dir: Path, *, api: str, urls: bool = True, images: bool = True
) -> list[str]:
    """What stops the images of a prompt from being sent: missing files, unknown types.

    Args:
        prompt: the record's prompt (already of a valid form).
        media_dir: the folder ``media`` names are relative to.
        api: the API's name, for messages.
        urls: whether the API takes images by URL.
        images: whether the API takes images at all.
    """
    found: list[str] = []
    for i, part in image_parts(prompt):
        where = f"'prompt'[{i}]"
        if not images:
            found.append(f"{where} has an image, and api {api!r} takes text only")
            continue
        url = part.get("url")
        if isinstance(url, str) and url:
            if not urls:
                found.append(
                    f"{where}: api {api!r} takes no image URLs; download {url} into the "
                    f"media folder ({media_dir}) and name it with 'media'"
                )
            elif not url.startswith(("http://", "https://", "gs://")):
                found.append(f"{where}: image url {url!r} must start with http:// or https://")
            continue
        name = str(part.get("media"))
        path = media_path(media_dir, name)
        if not path.is_file():
            found.append(
                f"{where}: media file {name!r} not found at {path}; put it there or set "
                "media_dir=<folder>"
            )
            continue
        mime = mime_type_of(name, part.get("mime_type"))
        if mime not in IMAGE_MIME_TYPES:
            found.append(
                f"{where}: media file {name!r} has type {mime or 'unknown'}; use one of "
                f"{', '.join(sorted(IMAGE_MIME_TYPES))} (or set 'mime_type' on the part)"
            )
    return found
