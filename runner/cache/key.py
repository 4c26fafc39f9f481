"""A request's cache key: the canonical JSON of what would be sent, never the API key.

The parts are what decides the answer: the api and the provider's endpoint identity
(``Provider.cache_identity``: the base URL and settings that change the request, never a
key), the model, the prompt in its canonical shape (media files by the SHA-256 of their
bytes), and the parameters without the volatile ones (``stream``, ``user``, request ids):
a provider's body is a pure function of these. They are dumped with sorted keys and hashed.

Sampling survives: the key also holds the request's ``occurrence`` within its run (0 for
the first identical request, 1 for the next ...), so an experiment repeating a prompt N
times gets N answers, and a rerun gets the same N back (Inspect keys by epoch likewise).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.hashing import file_sha256
from runner.prompts.records import PromptRecord
from runner.providers import media

if TYPE_CHECKING:
    from runner.providers.base import Provider

# Parameters that do not change the answer: how it is delivered, who asked, which request.
VOLATILE = frozenset(
    {"stream", "stream_options", "user", "request_id", "idempotency_key", "metadata", "store"}
)


@dataclass(frozen=True)
class RequestKey:
    """What a request is (``parts``, JSON-able), its hash, and its occurrence in the run."""

    parts: dict[str, Any]
    digest: str
    occurrence: int = 0

    @property
    def api(self) -> str:
        return str(self.parts.get("api", ""))

    @property
    def model(self) -> str:
        return str(self.parts.get("model") or "")

    def nth(self, occurrence: int) -> RequestKey:
        return RequestKey(self.parts, self.digest, occurrence)


def canonical_json(value: Any) -> str:
    """One spelling of ``value``: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _media_digest(part: dict[str, Any], media_dir: Path) -> dict[str, Any]:
    """A media part with its file named by content: editing the file changes the key."""
    name = part.get("media")
    if not isinstance(name, str) or part.get("url"):
        return part
    path = media.media_path(media_dir, name)
    try:
        digest = file_sha256(path)
    except OSError:
        digest = "unreadable"  # the request will fail, and errors are never cached
    return {**part, "media_sha256": digest}


def _prompt_part(prompt: Any, media_dir: Path) -> Any:
    if not media.has_images(prompt):
        return prompt
    shaped = []
    for message in prompt:
        content = message.get("content")
        if isinstance(content, list):
            content = [
                p if p.get("type", "text") == "text" else _media_digest(p, media_dir)
                for p in content
            ]
        shaped.append({**message, "content": content})
    return shaped


def request_key(record: PromptRecord, provider: Provider) -> RequestKey:
    """The key of ``record``'s request (its occurrence is set by the cache)."""
    params = {k: v for k, v in record.parameters.items() if k not in VOLATILE}
    media_dir = media.media_folder(provider.context.settings)
    parts = {
        **provider.cache_identity(record.model_name),
        "api": record.api,
        "model": record.model_name,
        "prompt": _prompt_part(record.prompt, media_dir),
        "parameters": params,
    }
    repeat = record.data.get("repeat")
    if isinstance(repeat, int) and not isinstance(repeat, bool):
        # A template experiment's repeat is its own sample, the same one on a resume
        # whichever repeats are left (occurrences count only what this run sends).
        parts["repeat"] = repeat
    digest = hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:32]
    return RequestKey(parts, digest)
