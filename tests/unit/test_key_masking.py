"""Issue 10.3: keys never reach the disk or the console.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_key_masking.py.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from runner import redaction


def test_masks_cover_env_dotenv_config_and_json_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text('export MY_SERVICE_TOKEN="tok-from-dotenv-123"\n')
    redaction.forget_all()
    try:
        redaction.remember_process_keys({"OPENAI_API_KEY_gpt_4o": 'sk-with"quote', "PATH": "/bin"})
        redaction.remember(["cfg-key-0123456789", None, "short"])
        text = json.dumps({"e": 'x sk-with"quote tok-from-dotenv-123 cfg-key-0123456789 /bin'})
        masked = redaction.redact(text)
        assert masked.count(redaction.MASK) == 3 and "/bin" in masked  # PATH is no key
        assert redaction.redact("short") == "short"  # too short to be a key
    finally:
        redaction.forget_all()


def test_log_lines_and_crash_tracebacks_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    from loguru import logger

    from runner import logs

    key = f"sk-canary-{uuid.uuid4().hex}"
    redaction.remember([key])
    try:
        logs.configure("INFO")
        try:
            raise RuntimeError(f"the API said: bad key {key}")
        except RuntimeError as exc:
            logger.opt(exception=exc).error("failed with {}", key)
            sys.excepthook(type(exc), exc, exc.__traceback__)
    finally:
        logs.configure("WARNING")
        redaction.forget_all()
    err = capsys.readouterr().err
    assert key not in err and err.count(redaction.MASK) >= 3


def test_a_word_in_a_credential_named_variable_is_no_key() -> None:
    redaction.forget_all()
    try:
        redaction.remember_env({"PRIMARY_KEY": "response", "SORT_KEY": "response_time_ms_total"})
        line = json.dumps({"response": "the response", "response_time_ms_total": 3})
        assert redaction.redact(line) == line
        assert redaction.redact_utf8(line.encode()) == line.encode()
    finally:
        redaction.forget_all()


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("response", False),
        ("sk-learn", False),  # a prefix, but a word's length
        ("response_time_ms_total", False),  # long, but no digit: an identifier
        ("aaaaaaaa11111111", False),  # letters and digits, but no entropy
        ("a long passphrase 123456", False),  # a space: text, not a token
        ("sk-proj-abc123", True),
        ("sk-ant-api03-xyz", True),
        ("AIzaSyD-0123abcd", True),
        ("hf_abcdefghijkl", True),
        ("9f86d081884c7d659a2feaa0c55ad015", True),  # a hex token
    ],
)
def test_looks_like_secret(value: str, secret: bool) -> None:
    assert redaction.looks_like_secret(value) is secret


def test_a_key_is_masked_as_a_whole_token_and_never_as_a_json_key() -> None:
    key = "sk-token-0123456789abcdef"
    redaction.forget_all()
    try:
        redaction.remember([key])
        assert redaction.redact(f"bad key {key}.") == f"bad key {redaction.MASK}."
        glued = f"x{key}y {key}_suffix"  # inside a longer word: another token
        assert redaction.redact(glued) == glued
        for escaped in (json.dumps(f"line\n{key}"), json.dumps(f"\u00a0{key}")):
            assert key not in redaction.redact(escaped), escaped  # after a JSON escape
        line = json.dumps({key: f"echo {key}"})
        assert json.loads(redaction.redact(line)) == {key: f"echo {redaction.MASK}"}
        assert redaction.redact_data({key: [key]}) == {key: [redaction.MASK]}
    finally:
        redaction.forget_all()


def test_public_url_strips_userinfo_and_credential_parameters() -> None:
    url = "http://user:pw@host:8/v1?api_key=A1&x=1&token=T2&access_token=T3&key=K4#f"
    assert redaction.public_url(url) == (
        f"http://host:8/v1?api_key={redaction.MASK}&x=1&token={redaction.MASK}"
        f"&access_token={redaction.MASK}&key={redaction.MASK}#f"
    )
    hydra_spelling = r"base_url=http\://user\:pw@host\:8/v1"  # Hydra escapes ":" so
    assert redaction.public_url(hydra_spelling) == r"base_url=http\://host\:8/v1"
    assert redaction.public_url("mail me: a@b.c, key=1") == "mail me: a@b.c, key=1"
