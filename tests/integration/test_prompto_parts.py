"""Every content-part form prompto accepts, over real HTTP: what reaches each server.

llmock serves OpenAI, Anthropic and Gemini; aimock serves Ollama and Azure OpenAI; the
Gemini File API and Vertex AI paths (which neither serves) go to tests/google_server.py.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.prompts.records import PromptRecord
from runner.providers.ollama import ollama_message
from tests import servers
from tests.google_server import GoogleServer, google_server
from tests.providers_support import (
    PNG_B64,
    aimock_journal,
    llmock_bodies,
    run_records,
    unique_model,
    write_media,
)

pytestmark = pytest.mark.integration


FIXTURES = Path(__file__).parents[1] / "fixtures"


JPEG = (FIXTURES / "prompto" / "media" / "tiny.jpg").read_bytes()


JPEG_B64 = base64.b64encode(JPEG).decode()


@pytest.fixture(scope="module")
def aimock_server() -> Iterator[servers.Server]:
    with servers.aimock(FIXTURES / "aimock") as server:
        yield server


@pytest.fixture
def google() -> Iterator[GoogleServer]:
    with google_server() as server:
        yield server


def _media(tmp_path: Path) -> Path:
    folder = write_media(tmp_path)
    (folder / "tiny.jpg").write_bytes(JPEG)
    (folder / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"v" * 64)
    (folder / "talk.wav").write_bytes(b"RIFF" + b"a" * 64)
    return folder


def _record(api: str, model: str, i: int, prompt: Any, **extra: Any) -> dict[str, Any]:
    return {"id": f"p{i}", "api": api, "model_name": model, "prompt": prompt, **extra}


OPENAI_CONTENT = [
    "describe these",
    {"type": "image_url", "image_url": "tiny.jpg"},
    {"type": "image_url", "image_url": {"url": "https://example.org/a.png", "detail": "low"}},
    {"type": "image", "media": "pixel.png"},
]


def _openai_expected() -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": "describe these"},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{JPEG_B64}"}},
        {"type": "image_url", "image_url": {"url": "https://example.org/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
    ]


def test_openai_bare_strings_and_image_url_forms(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """A bare string, image_url as a file name and as {url, detail}: base64 with its MIME."""
    _media(tmp_path)
    model = unique_model("gpt-parts")
    prompt = [
        {"role": "user", "content": OPENAI_CONTENT},
        {"role": "assistant", "content": "a cat"},
        {"role": "user", "content": ["and now?"]},
    ]
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}
    lines, result = run_records(tmp_path, [_record("openai", model, 0, prompt)], env)
    assert result.exit_code == 0, lines
    (body,) = llmock_bodies(llmock_server, model)
    assert body["messages"][0]["content"] == _openai_expected()
    assert body["messages"][2]["content"] == [{"type": "text", "text": "and now?"}]


def test_azure_and_ollama_take_prompto_image_url_parts(
    tmp_path: Path, aimock_server: servers.Server
) -> None:
    """The same prompto file sent to azure-openai (data URLs) and ollama (base64 images)."""
    _media(tmp_path)
    content = ["what is this?", {"type": "image_url", "image_url": "tiny.jpg"}]
    prompt = [{"role": "user", "content": content}]
    deployment, llama = unique_model("dep-parts"), unique_model("llama-parts")
    env = {
        "AZURE_OPENAI_API_KEY": "k",
        "AZURE_OPENAI_API_ENDPOINT": aimock_server.url,
        "OLLAMA_API_ENDPOINT": aimock_server.url,
    }
    records = [_record("azure-openai", deployment, 0, prompt), _record("ollama", llama, 1, prompt)]
    lines, result = run_records(tmp_path, records, env)
    assert result.exit_code == 0, lines
    journal = aimock_journal(aimock_server)
    azure = next(e for e in journal if deployment in e["path"])
    sent = azure["body"]["messages"][0]["content"]
    assert {"type": "text", "text": "what is this?"} in sent
    assert any(JPEG_B64 in str(part) and "image/jpeg" in str(part) for part in sent)
    ollama = next(e for e in journal if e["path"] == "/api/chat" and llama in str(e["body"]))
    assert ollama["body"]["messages"] == [{"role": "user", "content": "what is this?"}]
    # aimock's journal drops Ollama's images: check the message the provider sends.
    record = PromptRecord(_record("ollama", llama, 1, prompt))
    assert ollama_message(record.prompt[0], tmp_path / "media") == {
        "role": "user",
        "content": "what is this?",
        "images": [JPEG_B64],
    }


def test_anthropic_source_parts(tmp_path: Path, llmock_server: servers.Server) -> None:
    """Anthropic's {"type": "image", "source": {"media", "media_type"}} goes as base64."""
    _media(tmp_path)
    model = unique_model("claude-parts")
    source = {"media": "tiny.jpg", "media_type": "image/jpeg"}
    prompt = [{"role": "user", "content": [{"type": "image", "source": source}, "what is this?"]}]
    env = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": f"{llmock_server.url}/anthropic"}
    lines, result = run_records(tmp_path, [_record("anthropic", model, 0, prompt)], env)
    assert result.exit_code == 0, lines
    (body,) = llmock_bodies(llmock_server, model)
    assert body["messages"][0]["content"] == [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": JPEG_B64},
        },
        {"type": "text", "text": "what is this?"},
    ]


GEMINI_PROMPT = [
    {"role": "system", "parts": "be brief"},
    {
        "role": "user",
        "parts": [
            "describe",
            {"type": "image", "media": "tiny.jpg"},
            {"type": "video", "media": "clip.mp4"},
            {"type": "audio", "media": "talk.wav"},
            {"type": "text", "media": "all three"},
        ],
    },
    {"role": "model", "parts": "a cyclist"},
    {"role": "user", "parts": {"type": "text", "text": "who?"}},
]


def _gemini_expected(folder: Path) -> list[dict[str, Any]]:
    def inline(name: str, mime: str) -> dict[str, Any]:
        data = base64.b64encode((folder / name).read_bytes()).decode()
        return {"inlineData": {"mimeType": mime, "data": data}}

    return [
        {
            "role": "user",
            "parts": [
                {"text": "describe"},
                inline("tiny.jpg", "image/jpeg"),
                inline("clip.mp4", "video/mp4"),
                inline("talk.wav", "audio/x-wav"),
                {"text": "all three"},
            ],
        },
        {"role": "model", "parts": [{"text": "a cyclist"}]},
        {"role": "user", "parts": [{"text": "who?"}]},
    ]


def test_gemini_parts_roles_media_and_safety_filter(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """Gemini's parts (string, part, list), role model, image/video/audio inline, safety."""
    folder = _media(tmp_path)
    model = unique_model("gemini-parts")
    records = [
        _record("gemini", model, 0, GEMINI_PROMPT, safety_filter="none"),
        _record("gemini", model, 1, "plain", safety_filter="most"),
        _record("gemini", model, 2, "default filter"),
    ]
    env = {"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": f"{llmock_server.url}/gemini/v1beta"}
    lines, result = run_records(tmp_path, records, env)
    assert result.exit_code == 0, lines
    bodies = {b["contents"][0]["parts"][0]["text"]: b for b in llmock_bodies(llmock_server, model)}
    body = bodies["describe"]
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert body["contents"] == _gemini_expected(folder)
    thresholds = {text: {s["threshold"] for s in b["safetySettings"]} for text, b in bodies.items()}
    assert thresholds == {
        "describe": {"BLOCK_NONE"},
        "plain": {"BLOCK_LOW_AND_ABOVE"},
        "default filter": {"BLOCK_MEDIUM_AND_ABOVE"},
    }
    assert {s["category"] for s in body["safetySettings"]} == {
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    }


def test_gemini_file_api_upload_once_reuse_and_uploaded_filename(
    tmp_path: Path, google: GoogleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the inline limit: one upload for two prompts; known files reused by hash."""
    from runner.providers import gemini_files

    monkeypatch.setattr(gemini_files, "POLL_SECONDS", 0.01)
    folder = _media(tmp_path)
    big = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
    (folder / "big.mp4").write_bytes(big)
    (folder / "known.mp3").write_bytes(b"ID3" + b"m" * 500)
    google.add_file("files/known1", (folder / "known.mp3").read_bytes(), "audio/mpeg")
    google.add_file("files/named7", b"whatever", "video/mp4")
    video = {"type": "video", "media": "big.mp4"}
    records = [
        _record("gemini", "g", 0, [{"role": "user", "parts": ["one", video]}]),
        _record("gemini", "g", 1, [{"role": "user", "parts": ["two", video]}]),
        _record(
            "gemini",
            "g",
            2,
            [{"role": "user", "parts": ["three", {"type": "audio", "media": "known.mp3"}]}],
        ),
        _record(
            "gemini",
            "g",
            3,
            [
                {
                    "role": "user",
                    "parts": [
                        "four",
                        {
                            "type": "video",
                            "media": "elsewhere.mp4",
                            "uploaded_filename": "files/named7",
                        },
                    ],
                }
            ],
        ),
        _record(
            "gemini",
            "g",
            4,
            [{"role": "user", "parts": ["five", {"type": "image", "media": "pixel.png"}]}],
        ),
    ]
    env = {"GEMINI_API_KEY": "secret-k", "GEMINI_BASE_URL": f"{google.url}/v1beta"}
    lines, result = run_records(tmp_path, records, env, "apis.gemini.inline_limit=200")
    assert result.exit_code == 0, lines

    starts = google.requests("POST", "/upload/v1beta/files")
    assert len(starts) == 1, "the big video is uploaded once for both prompts"
    assert starts[0].headers["X-Goog-Upload-Header-Content-Type"] == "video/mp4"
    assert starts[0].headers["x-goog-api-key"] == "secret-k"
    (finish,) = google.requests("POST", "/upload-session/")
    assert finish.body == big
    uploaded = next(f for f in google.files.values() if f["name"].startswith("files/up"))
    assert uploaded["state"] == "ACTIVE"

    sent = {
        s.json()["contents"][0]["parts"][0]["text"]: s.json()["contents"][0]["parts"][1]
        for s in google.requests("POST", "/v1beta/models/g:generateContent")
    }
    video_part = {"fileData": {"mimeType": "video/mp4", "fileUri": uploaded["uri"]}}
    assert sent["one"] == video_part and sent["two"] == video_part
    assert sent["three"] == {
        "fileData": {"mimeType": "audio/mpeg", "fileUri": google.files["files/known1"]["uri"]}
    }
    assert sent["four"] == {
        "fileData": {"mimeType": "video/mp4", "fileUri": google.files["files/named7"]["uri"]}
    }
    assert sent["five"] == {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}


def test_vertexai_url_bearer_and_parts(tmp_path: Path, google: GoogleServer) -> None:
    """prompto's VERTEXAI_* names (with the _<model> rule), the URL and bearer token."""
    folder = _media(tmp_path)
    env = {
        "VERTEXAI_PROJECT_ID": "proj-a",
        "VERTEXAI_PROJECT_ID_gemini_1_5_flash_002": "proj-b",
        "VERTEXAI_LOCATION_ID": "europe-west2",
        "VERTEXAI_BASE_URL": f"{google.url}/v1",
        "VERTEXAI_ACCESS_TOKEN": "tok-123",
    }
    records = [
        _record("vertexai", "gemini-1.5-flash-002", 0, GEMINI_PROMPT, safety_filter="few"),
        _record("vertexai", "gemini-1.0-pro-002", 1, ["turn one", "turn two"]),
    ]
    lines, result = run_records(tmp_path, records, env)
    assert result.exit_code == 0, lines
    assert lines[1]["response"] == ["ok from google", "ok from google"]
    posts = google.requests("POST", "/v1/projects/")
    paths = {s.path for s in posts}
    assert paths == {
        "/v1/projects/proj-b/locations/europe-west2/publishers/google/models/"
        "gemini-1.5-flash-002:generateContent",
        "/v1/projects/proj-a/locations/europe-west2/publishers/google/models/"
        "gemini-1.0-pro-002:generateContent",
    }
    assert {s.headers["Authorization"] for s in posts} == {"Bearer tok-123"}
    body = next(s.json() for s in posts if "flash" in s.path)
    assert body["contents"] == _gemini_expected(folder)
    assert {s["threshold"] for s in body["safetySettings"]} == {"BLOCK_ONLY_HIGH"}


def test_vertexai_application_default_credentials(tmp_path: Path, google: GoogleServer) -> None:
    """Without a token variable, google-auth's application default credentials give it."""
    pytest.importorskip("google.auth")
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    adc = tmp_path / "adc.json"
    # A service-account key file: google-auth honours its token_uri (the test server).
    adc.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "proj-adc",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "runner-test@proj-adc.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{google.url}/token",
            }
        )
    )
    env = {
        "VERTEXAI_PROJECT_ID": "proj-a",
        "VERTEXAI_BASE_URL": f"{google.url}/v1",
        "GOOGLE_APPLICATION_CREDENTIALS": str(adc),
    }
    records = [_record("vertexai", "gemini-x", i, f"hi {i}") for i in range(3)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        mp.delenv("VERTEXAI_ACCESS_TOKEN", raising=False)
        lines, result = run_records(tmp_path, records, env)
    assert result.exit_code == 0, lines
    posts = google.requests("POST", "/v1/projects/proj-a/locations/us-central1/")
    assert len(posts) == 3
    assert {s.headers["Authorization"] for s in posts} == {"Bearer adc-token-1"}
    (grant,) = google.requests("POST", "/token")  # refreshed once, then reused
    assert b"grant_type=urn" in grant.body and b"assertion=" in grant.body
