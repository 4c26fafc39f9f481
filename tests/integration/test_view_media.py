"""The viewer's media route: images named by prompts, from the media folder only."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from runner.view.app import make_app

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _get_all(outputs: Path, media: Path, paths: list[str]) -> list[tuple[int, str]]:
    async def go() -> list[tuple[int, str]]:
        client = TestClient(TestServer(make_app(outputs, media_dir=media)))
        await client.start_server()
        try:
            out = []
            for path in paths:
                resp = await client.get(path)
                out.append((resp.status, resp.headers.get("Content-Security-Policy", "")))
            return out
        finally:
            await client.close()

    return asyncio.run(go())


def test_images_come_from_the_media_folder_and_nowhere_else(tmp_path: Path) -> None:
    media, outputs = tmp_path / "media", tmp_path / "outputs"
    (media / "sub").mkdir(parents=True)
    outputs.mkdir()
    (media / "sub" / "cat.png").write_bytes(PNG)
    (media / "evil.svg").write_text("<svg onload=alert(1)></svg>")
    (tmp_path / "secret.png").write_bytes(PNG)
    got = _get_all(
        outputs,
        media,
        [
            "/media/sub/cat.png",
            "/media/evil.svg",
            "/media/../secret.png",
            "/media/%2E%2E/secret.png",
        ],
    )
    assert got[0] == (200, "default-src 'none'")
    assert [status for status, _ in got[1:]] == [404, 404, 404]
