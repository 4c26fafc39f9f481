"""``python -m runner.upload_media``: upload, list, delete against the in-test Google server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import upload_media
from runner.providers import gemini_files
from tests.google_server import google_server
from tests.helpers import read_jsonl, write_jsonl


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
