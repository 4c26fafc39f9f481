"""The Gemini File API: files too large to send inline, uploaded once and named by URI.

As prompto's ``upload_media`` does, a file is matched by its SHA-256: one already in the File
API (from an earlier run or ``python -m runner.upload_media``) is reused, and a file is
uploaded at most once per run however many prompts name it. Uploads use the resumable
protocol of ``upload/v1beta/files``, then wait while the file is PROCESSING.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from loguru import logger

from runner.errors import ErrorKind, ProviderError
from runner.hashing import file_sha256

POLL_SECONDS = 1.0
Classifier = Callable[[int, Any, str, Mapping[str, str]], ProviderError]


def upload_url(base_url: str) -> str:
    """The upload endpoint beside a base URL: ``<origin>/upload/<path>/files``."""
    scheme, netloc, path, query, fragment = urlsplit(base_url.rstrip("/"))
    return urlunsplit((scheme, netloc, f"/upload{path}/files", query, fragment))


def remote_hash(file: Mapping[str, Any]) -> str:
    """A File resource's ``sha256Hash`` as hex (the API sends base64 of the hex text)."""
    try:
        return base64.b64decode(str(file.get("sha256Hash", ""))).decode("ascii").lower()
    except (ValueError, UnicodeDecodeError):
        return ""


class GeminiFiles:
    """One account's File API: list, upload (once per file), look up and delete files."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        key: str | None,
        timeout: aiohttp.ClientTimeout,
        classify: Classifier,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.headers = {"x-goog-api-key": key} if key else {}
        self.timeout = timeout
        self.classify = classify
        self._by_hash: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._by_name: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._listed: asyncio.Task[dict[str, dict[str, Any]]] | None = None
        self._reported: set[str] = set()  # gone names already reported
        self._forgotten: set[str] = set()  # URIs generateContent said are gone

    async def _request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kw: Any
    ) -> tuple[Any, Mapping[str, str]]:
        """One request; its JSON body and headers. Failures become ProviderErrors."""
        try:
            async with self.session.request(
                method, url, headers={**self.headers, **(headers or {})}, timeout=self.timeout, **kw
            ) as resp:
                raw = await resp.text()
                try:
                    body = json.loads(raw) if raw else {}
                except json.JSONDecodeError:
                    body = None
                if resp.status >= 400:
                    raise self.classify(resp.status, body, raw, resp.headers)
                return body, resp.headers
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ProviderError(
                f"File API {method} {url}: {type(exc).__name__}: {exc}", ErrorKind.RETRYABLE
            ) from None

    async def list_files(self) -> list[dict[str, Any]]:
        """Every file of the account (all pages)."""
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            params = {"pageSize": "100", **({"pageToken": token} if token else {})}
            body, _ = await self._request("GET", f"{self.base_url}/files", params=params)
            found += [f for f in (body or {}).get("files") or [] if isinstance(f, dict)]
            token = str((body or {}).get("nextPageToken") or "")
            if not token:
                return found

    async def get(self, name: str) -> dict[str, Any]:
        """A file's metadata (``uri``, ``mimeType``, ``state``), once per name per run."""
        task = self._by_name.get(name)
        failed = task is not None and task.done() and task.exception() is not None
        if task is None or (failed and not gone(task.exception())):  # gone stays gone
            task = asyncio.ensure_future(self._get(name))
            self._by_name[name] = task
        return await asyncio.shield(task)

    async def _get(self, name: str) -> dict[str, Any]:
        body, _ = await self._request("GET", f"{self.base_url}/{name}")
        if not isinstance(body, dict) or not body.get("uri"):
            raise ProviderError(f"File API: {name} has no uri: {body!r:.200}", ErrorKind.FATAL)
        return body

    async def named(self, name: str, local: Path | None, mime_type: str) -> dict[str, Any]:
        """The File resource ``name``; when the API no longer holds it (uploads expire after
        48 hours), the ``local`` file the part also names, uploaded again (once per file).

        Raises:
            ProviderError: (fatal, for this prompt alone) it is gone and there is no local
                file to upload again; the message names both.
        """
        try:
            return await self.get(name)
        except ProviderError as exc:
            if not gone(exc):
                raise
            refusal = exc
        if local is None or not await asyncio.to_thread(local.is_file):
            where = f"its 'media' file {local} is not there" if local else "it names no 'media'"
            raise ProviderError(
                f"the Gemini File API no longer holds {name} (named by 'uploaded_filename'; "
                f"uploads expire after 48 hours) and {where} to upload again: upload the file "
                f"again (python -m runner.upload_media) or name it with 'media' [{refusal}]",
                ErrorKind.FATAL,
                refusal.status,
                prompt_only=True,
            )
        if name not in self._reported:
            self._reported.add(name)
            logger.warning(
                "Gemini File API: {} (uploaded_filename) is gone (uploads expire after 48 "
                "hours): uploading {} again for the prompts that name it",
                name,
                local.name,
            )
        return await self.ensure_uploaded(local, mime_type)

    def forget(self, uris: list[str]) -> bool:
        """Drop what this run holds of the files at ``uris`` (the API says they are gone),
        so they are looked up and uploaded again; False when none was forgotten before."""
        fresh = set(uris) - self._forgotten
        if not fresh:
            return False
        self._forgotten |= fresh
        for held in (self._by_name, self._by_hash):
            for key, task in list(held.items()):
                if task.done() and task.exception() is None and task.result().get("uri") in fresh:
                    del held[key]
        self._listed = None
        return True

    async def delete(self, name: str) -> None:
        await self._request("DELETE", f"{self.base_url}/{name}")

    async def ensure_uploaded(self, path: Path, mime_type: str) -> dict[str, Any]:
        """The ACTIVE File resource for ``path``: one already there, else a new upload."""
        digest = await asyncio.to_thread(file_sha256, path)
        task = self._by_hash.get(digest)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(self._find_or_upload(path, mime_type, digest))
            self._by_hash[digest] = task
        return await asyncio.shield(task)

    async def _find_or_upload(self, path: Path, mime_type: str, digest: str) -> dict[str, Any]:
        if self._listed is None or (self._listed.done() and self._listed.exception()):
            self._listed = asyncio.ensure_future(self._remote_by_hash())
        existing = (await asyncio.shield(self._listed)).get(digest)
        if existing is not None and existing.get("state", "ACTIVE") == "ACTIVE":
            return existing
        return await self.upload(path, mime_type)

    async def _remote_by_hash(self) -> dict[str, dict[str, Any]]:
        return {remote_hash(f): f for f in await self.list_files()}

    async def upload(self, path: Path, mime_type: str) -> dict[str, Any]:
        """Upload ``path`` (resumable protocol, one request) and wait until it is ACTIVE.

        The body is streamed from the file (aiohttp reads a file object in chunks), never
        read whole: a 3 GB video must not take 3 GB of memory.
        """
        size = (await asyncio.to_thread(path.stat)).st_size
        start_headers = {
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": mime_type,
        }
        _, headers = await self._request(
            "POST",
            upload_url(self.base_url),
            headers=start_headers,
            json={"file": {"display_name": path.name}},
        )
        target = headers.get("X-Goog-Upload-URL")
        if not target:
            raise ProviderError("File API: the upload start gave no upload URL", ErrorKind.FATAL)
        finish = {"X-Goog-Upload-Offset": "0", "X-Goog-Upload-Command": "upload, finalize"}
        with await asyncio.to_thread(path.open, "rb") as data:
            body, _ = await self._request("POST", target, headers=finish, data=data)
        file = (body or {}).get("file") if isinstance(body, dict) else None
        if not isinstance(file, dict) or not file.get("name"):
            raise ProviderError(f"File API: bad upload answer {body!r:.200}", ErrorKind.FATAL)
        return await self._wait_active(file)

    async def _wait_active(self, file: dict[str, Any]) -> dict[str, Any]:
        while file.get("state") == "PROCESSING":
            await asyncio.sleep(POLL_SECONDS)
            file = await self._get(str(file["name"]))
        if file.get("state") == "FAILED":
            raise ProviderError(
                f"File API: processing {file.get('name')} failed: {file.get('error')}",
                ErrorKind.FATAL,
            )
        return file


def gone(exc: BaseException | None) -> bool:
    """Whether a File API failure says the file is not there (Gemini answers a name it does
    not hold with a 403 PERMISSION_DENIED, see ``missing_file``; emulators with a 404)."""
    return isinstance(exc, ProviderError) and (exc.prompt_only or exc.status == 404)
