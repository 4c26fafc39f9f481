"""A URL's login is a secret in every form it is sent in, and cannot ride beside a key.

aiohttp sends ``http://user:password@host`` as ``Authorization: Basic <base64>``; a server
that echoed that header in its error put the login into the results, index and report
(the password itself was masked, its base64 was not). With an API key set as well, aiohttp
refused every request ("Cannot combine AUTHORIZATION header with ... credentials encoded
in URL"): a traceback per prompt, after the run started, instead of one line up front.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from runner import redaction
from runner.config.schema import RunConfig
from runner.prompts.records import PromptRecord
from runner.providers.base import ProviderContext
from runner.providers.huggingface_tgi import HuggingfaceTgiProvider
from runner.providers.openai import OpenAIProvider

RECORD = {"id": "a", "api": "openai", "model_name": "m", "prompt": "hi"}


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    redaction.forget_all()
    yield
    redaction.forget_all()


def _basic(pair: str) -> str:
    return base64.b64encode(pair.encode("latin-1")).decode()


@pytest.mark.parametrize(
    ("url", "pair"),
    [
        ("http://alice:hunter2pass@127.0.0.1:9/v1", "alice:hunter2pass"),
        ("http://al%40ice:p%40ss%3Aword99@h/v1", "al@ice:p@ss:word99"),  # as sent: decoded
        ("http\\://alice\\:hunter2pass@h/v1", "alice:hunter2pass"),  # Hydra's escaped form
    ],
)
def test_the_basic_token_a_url_login_becomes_is_masked(url: str, pair: str) -> None:
    redaction.remember_env({"OPENAI_BASE_URL": url})
    echoed = f'{{"error": "Incorrect API key provided: Basic {_basic(pair)}"}}'
    masked = redaction.redact(echoed)
    assert _basic(pair) not in masked and f"Basic {redaction.MASK}" in masked


def test_a_url_login_beside_a_key_is_one_problem_naming_the_setting() -> None:
    env = {"OPENAI_API_KEY": "sk-test-0123456789abc", "OPENAI_BASE_URL": "http://u:pw@h:1/v1"}
    provider = OpenAIProvider(ProviderContext(RunConfig(), env=env))
    (problem,) = [p for p in provider.problems(PromptRecord(dict(RECORD))) if "login" in p]
    assert "apis.openai.base_url (or $OPENAI_BASE_URL) 'http://h:1/v1'" in problem
    assert "pw" not in problem.replace("password", "")
    # Without a key the login is the credential: aiohttp sends it, nothing to say.
    alone = OpenAIProvider(
        ProviderContext(RunConfig(), env={"OPENAI_BASE_URL": env["OPENAI_BASE_URL"]})
    )
    assert alone.problems(PromptRecord(dict(RECORD))) == []


def test_tgi_says_the_same_for_its_endpoint() -> None:
    env = {
        "HUGGINGFACE_TGI_API_KEY": "hf_0123456789abcdef",
        "HUGGINGFACE_TGI_API_ENDPOINT": "http://u:pw@h:1",
    }
    provider = HuggingfaceTgiProvider(ProviderContext(RunConfig(), env=env))
    record = PromptRecord({**RECORD, "api": "huggingface-tgi"})
    assert any("apis.huggingface_tgi.endpoint" in p for p in provider.problems(record))


@pytest.mark.parametrize("key", ["sk-short1", "abcdef123456", "Passw0rd-local"])
def test_a_key_variable_is_masked_however_plain_its_value_looks(key: str) -> None:
    """A server echoing 'Bearer abcdef123456' put that key into results, index and terminal."""
    redaction.remember_env({"OPENAI_API_KEY": key, "PRIMARY_KEY": "response"})
    redaction.remember(["localkey-777"], known=True)  # apis.*.api_key, once resolved
    echoed = f"Incorrect API key provided: Bearer {key}; also localkey-777. response"
    assert redaction.redact(echoed) == (
        f"Incorrect API key provided: Bearer {redaction.MASK}; also {redaction.MASK}. response"
    )
    redaction.remember(["short12"], known=True)  # under 8 characters: it would mask words
    assert redaction.redact("short12") == "short12"
