"""``python -m runner.upload_media``: upload, list, delete against the in-test Google server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from runner import upload_media
from runner.providers import gemini_files
from tests.google_server import google_server
from tests.helpers import ROOT, read_jsonl, write_jsonl
from tests.servers import free_port


def test_upload_writes_uploaded_filenames_reuses_and_deletes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(gemini_files, "POLL_SECONDS", 0.01)
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.mp4").write_bytes(b"video" * 40)
    (media / "b.wav").write_bytes(b"audio" * 40)
    video = {"type": "video", "media": "a.mp4"}
    records = [
        {
            "id": 0,
            "api": "gemini",
            "model_name": "g",
            "prompt": [{"role": "user", "parts": ["x", video]}],
        },
        {
            "id": 1,
            "api": "gemini",
            "model_name": "g",
            "prompt": [{"role": "user", "parts": [video, {"type": "audio", "media": "b.wav"}]}],
        },
        {"id": 2, "api": "gemini", "model_name": "g", "prompt": "text only"},
    ]
    experiment = write_jsonl(tmp_path / "exp.jsonl", records)
    original = experiment.read_text()
    with google_server() as google:
        monkeypatch.setenv("GEMINI_API_KEY", "k")
        monkeypatch.setenv("GEMINI_BASE_URL", f"{google.url}/v1beta")
        args = ["upload", "-f", str(experiment), "-m", str(media)]
        assert upload_media.main(args) == 0
        assert len(google.requests("POST", "/upload/v1beta/files")) == 2
        out = read_jsonl(tmp_path / "exp_uploaded.jsonl")
        parts = [p for r in out[:2] for p in r["prompt"][0]["parts"] if isinstance(p, dict)]
        names = {p["media"]: p["uploaded_filename"] for p in parts}
        assert set(names) == {"a.mp4", "b.wav"} and set(names.values()) == set(google.files)
        assert experiment.read_text() == original  # the input is never changed

        assert upload_media.main(args) == 2  # refuses to overwrite
        assert upload_media.main([*args, "-w"]) == 0
        assert len(google.requests("POST", "/upload/v1beta/files")) == 2  # reused by hash

        capsys.readouterr()
        assert upload_media.main(["list"]) == 0
        assert "Found 2 file(s)" in capsys.readouterr().out
        assert upload_media.main(["delete"]) == 0
        assert google.files == {}
    assert json.loads(original.splitlines()[0])["id"] == 0


def _streaming_google(received: list[int]) -> web.Application:
    """The File API's upload steps, counting the body as it streams (never holding it).

    Answers as https://ai.google.dev/api/files#method:-media.upload documents: the start
    gives ``X-Goog-Upload-URL``; the finalize answers ``{"file": File}``.
    """

    async def start(request: web.Request) -> web.Response:
        url = f"http://{request.host}/upload-session/1"
        return web.json_response({}, headers={"X-Goog-Upload-URL": url})

    async def finish(request: web.Request) -> web.Response:
        total = 0
        async for chunk in request.content.iter_chunked(1 << 20):
            total += len(chunk)
        received.append(total)
        file = {"name": "files/big", "uri": "u", "mimeType": "video/mp4", "state": "ACTIVE"}
        return web.json_response({"file": file})

    async def listing(_request: web.Request) -> web.Response:
        return web.json_response({"files": []})

    app = web.Application(client_max_size=1 << 40)
    app.router.add_post("/upload/v1beta/files", start)
    app.router.add_post("/upload-session/1", finish)
    app.router.add_get("/v1beta/files", listing)
    return app


@contextmanager
def serve_app(app: web.Application) -> Iterator[str]:
    """``app`` on a free loopback port in a thread of its own; yields its URL."""
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
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
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


_PEAK = """
import resource, sys
from runner import upload_media
code = upload_media.main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
sys.exit(code)
"""


def _upload_peak(tmp_path: Path, url: str, size: int) -> int:
    """Peak RSS (bytes) of ``upload_media upload`` of one video of ``size`` bytes (sparse)."""
    folder = tmp_path / f"media-{size}"
    folder.mkdir()
    with (folder / "v.mp4").open("wb") as f:
        f.truncate(size)
    part = {"type": "video", "media": "v.mp4"}
    record = {"api": "gemini", "model_name": "g", "prompt": [{"role": "user", "parts": [part]}]}
    experiment = write_jsonl(folder / "exp.jsonl", [record])
    env = {**os.environ, "GEMINI_API_KEY": "k", "GEMINI_BASE_URL": f"{url}/v1beta"}
    env["PYTHONPATH"] = str(ROOT)
    args = ["upload", "-f", str(experiment), "-m", str(folder)]
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def test_upload_streams_a_big_file(tmp_path: Path) -> None:
    """Issue 23 item 11: a 400 MB upload grows peak memory far less than its size."""
    received: list[int] = []
    with serve_app(_streaming_google(received)) as url:
        small = _upload_peak(tmp_path, url, 1 << 20)
        big = _upload_peak(tmp_path, url, 400 << 20)
    assert received == [1 << 20, 400 << 20]
    assert big - small < 64 << 20, f"peak RSS grew {(big - small) >> 20} MB for 400 MB"
