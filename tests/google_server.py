"""A small in-test aiohttp server for the Google paths no real test server serves.

llmock serves Gemini's ``generateContent`` but not the Gemini File API, Vertex AI's
``projects/.../publishers/google/models/...`` path, or Google's OAuth token endpoint. This
server answers those (and generateContent beside them), in a thread of the test process,
and records every request: method, path, headers and body.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.servers import free_port


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class GoogleServer:
    url: str
    seen: list[Seen] = field(default_factory=list)
    # name -> File resource (the Gemini File API's store).
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    processing_polls: int = 1
    # Names that expire as generateContent first uses them (after a lookup found them).
    expire_on_use: set[str] = field(default_factory=set)

    def requests(self, method: str, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(prefix)]

    def add_file(self, name: str, data: bytes, mime_type: str) -> dict[str, Any]:
        """A file already in the File API (an earlier upload)."""
        resource = _resource(self.url, name, data, mime_type, "ACTIVE")
        self.files[name] = resource
        return resource


def _resource(url: str, name: str, data: bytes, mime: str, state: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest().encode()
    return {
        "name": name,
        "uri": f"{url}/v1beta/{name}",
        "mimeType": mime,
        "sizeBytes": str(len(data)),
        "sha256Hash": base64.b64encode(digest).decode(),
        "state": state,
    }


def _answer(text: str) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
    }


def _app(server: GoogleServer) -> web.Application:
    uploads: dict[str, dict[str, str]] = {}
    polls: dict[str, int] = {}

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        server.seen.append(Seen(request.method, request.path_qs, dict(request.headers), body))
        response: web.StreamResponse = await handler(request)
        return response

    async def generate(request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"{}")  # read once already: cached
        for content in body.get("contents") or []:
            for part in content.get("parts") or []:
                uri = str((part.get("fileData") or {}).get("fileUri") or "")
                name = uri.split("/v1beta/", 1)[-1]
                if name in server.expire_on_use:
                    server.expire_on_use.discard(name)
                    server.files.pop(name, None)
                if uri.startswith(server.url) and name not in server.files:
                    return gone(name)
        return web.json_response(_answer("ok from google"))

    def gone(name: str) -> web.Response:
        # Gemini answers a File API name it does not hold (expired after 48 hours, or never
        # made) with 403 PERMISSION_DENIED, not 404: the body as reported in
        # https://github.com/googleapis/python-genai/issues/1218 and
        # https://github.com/langgenius/dify-plugin-daemon/issues/192 (the google.rpc
        # error shape of https://ai.google.dev/gemini-api/docs/troubleshooting).
        message = f"You do not have permission to access the File {name} or it may not exist."
        error = {"code": 403, "message": message, "status": "PERMISSION_DENIED"}
        return web.json_response({"error": error}, status=403)

    async def token(request: web.Request) -> web.Response:
        return web.json_response(
            {"access_token": "adc-token-1", "expires_in": 3600, "token_type": "Bearer"}
        )

    async def start_upload(request: web.Request) -> web.Response:
        upload_id = f"u{len(uploads)}"
        uploads[upload_id] = {
            "mime": request.headers["X-Goog-Upload-Header-Content-Type"],
            "name": (await request.json())["file"]["display_name"],
        }
        return web.json_response(
            {}, headers={"X-Goog-Upload-URL": f"{server.url}/upload-session/{upload_id}"}
        )

    async def finish_upload(request: web.Request) -> web.Response:
        info = uploads[request.match_info["upload_id"]]
        name = f"files/up{len(server.files)}"
        state = "PROCESSING" if server.processing_polls else "ACTIVE"
        resource = _resource(server.url, name, await request.read(), info["mime"], state)
        server.files[name] = resource
        polls[name] = server.processing_polls
        return web.json_response({"file": resource})

    async def get_file(request: web.Request) -> web.Response:
        name = f"files/{request.match_info['file_id']}"
        if name not in server.files:
            return gone(name)
        if polls.get(name):
            polls[name] -= 1
            if not polls[name]:
                server.files[name]["state"] = "ACTIVE"
        return web.json_response(server.files[name])

    async def delete_file(request: web.Request) -> web.Response:
        server.files.pop(f"files/{request.match_info['file_id']}", None)
        return web.json_response({})

    async def list_files(request: web.Request) -> web.Response:
        return web.json_response({"files": list(server.files.values())})

    app = web.Application(middlewares=[record], client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1beta/models/{model}:generateContent", generate)
    app.router.add_post(
        "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}"
        ":generateContent",
        generate,
    )
    app.router.add_post("/token", token)
    app.router.add_post("/upload/v1beta/files", start_upload)
    app.router.add_post("/upload-session/{upload_id}", finish_upload)
    app.router.add_get("/v1beta/files", list_files)
    app.router.add_get("/v1beta/files/{file_id}", get_file)
    app.router.add_delete("/v1beta/files/{file_id}", delete_file)
    return app


@contextmanager
def google_server() -> Iterator[GoogleServer]:
    """The server, running in a thread until the block ends."""
    port = free_port()
    server = GoogleServer(f"http://127.0.0.1:{port}")
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(server), access_log=None)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
