"""A 403 is not always the key: Gemini's 403 for a File API name it does not hold.

Uploads to the Gemini File API expire after 48 hours (https://ai.google.dev/gemini-api/docs/files),
so a record's ``uploaded_filename`` (prompto's example files name long-gone uploads) meets
403 PERMISSION_DENIED "You do not have permission to access the File ... or it may not
exist." (the body tests/google_server.py answers, with its sources). That stops nothing but
the prompt: the part's ``media`` file is uploaded again (once per file per run), and a part
with no local file fails alone, with a message naming the file. A 403 that says the key may
not use the model still stops the model (tests/integration/test_rejected_key.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.google_server import GoogleServer, google_server
from tests.providers_support import PNG_1X1, run_records, write_media

pytestmark = pytest.mark.integration


def _record(i: int, *parts: Any) -> dict[str, Any]:
    prompt = [{"role": "user", "parts": [f"prompt {i}", *parts]}]
    return {"id": f"p{i}", "api": "gemini", "model_name": "g", "prompt": prompt}


def test_an_expired_upload_is_uploaded_again_once_and_a_lone_name_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.providers import gemini_files

    monkeypatch.setattr(gemini_files, "POLL_SECONDS", 0.01)
    write_media(tmp_path)
    expired = {"type": "image", "media": "pixel.png", "uploaded_filename": "files/expired1"}
    lone = {"type": "video", "uploaded_filename": "files/expired2"}
    records = [
        *(_record(i, expired) for i in range(3)),
        _record(3, lone),
        _record(4),  # text only, same model: never stopped
    ]
    google: GoogleServer
    with google_server() as google:
        env = {"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": f"{google.url}/v1beta"}
        lines, result = run_records(tmp_path, records, env)
        uploads = google.requests("POST", "/upload-session/")
        files = dict(google.files)
    by_id = {line["id"]: line for line in lines}
    assert [by_id[f"p{i}"]["status"] for i in (0, 1, 2, 4)] == ["ok"] * 4, lines
    assert len(uploads) == 1 and uploads[0].body == PNG_1X1  # once for the three prompts
    (uploaded,) = files.values()
    assert uploaded["name"] != "files/expired1"
    failed = by_id["p3"]
    assert failed["status"] == "error" and failed["attempts"] == 1
    assert "files/expired2" in failed["error"] and "48 hours" in failed["error"]
    assert "API key" not in failed["error"] and "refused model" not in failed["error"]
    assert len(lines) == len(records) and result.run_dir.is_dir()  # the run went to its end


def test_an_upload_that_expires_during_the_run_is_uploaded_again_and_the_prompt_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.providers import gemini_files

    monkeypatch.setattr(gemini_files, "POLL_SECONDS", 0.01)
    write_media(tmp_path)
    part = {"type": "image", "media": "pixel.png", "uploaded_filename": "files/soon"}
    with google_server() as google:
        google.add_file("files/soon", PNG_1X1, "image/png")
        google.expire_on_use.add("files/soon")  # found by the lookup, gone at generateContent
        env = {"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": f"{google.url}/v1beta"}
        lines, _ = run_records(tmp_path, [_record(0, part), _record(1)], env)
        uploads = google.requests("POST", "/upload-session/")
    assert [line["status"] for line in lines] == ["ok", "ok"], lines
    assert lines[0]["attempts"] == 2 and len(uploads) == 1
