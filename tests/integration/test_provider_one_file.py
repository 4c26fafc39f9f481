"""A provider is one file plus its yaml (issue 25, item 5).

In a copy of the package, a new provider module ``runner/providers/acme.py`` and its
``conf/api/acme.yaml`` are added and nothing else is edited: the command line then knows the
api, its settings block (``apis.acme.*``, in ``--help`` too), its key variable and its
price mapping, and a prompt goes through it to a real server (llmock, OpenAI's chat shape).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import runner
from tests import servers
from tests.helpers import runner_argv, write_jsonl

pytestmark = pytest.mark.integration

PACKAGE = Path(runner.__file__).resolve().parent

ACME = '''"""Acme: an OpenAI-compatible chat API, declared in this one file."""

from __future__ import annotations

from dataclasses import dataclass

from runner.prompts.records import PromptRecord
from runner.providers.base import Completion, HttpProvider, register
from runner.providers.openai import send_chat_completions


@dataclass
class AcmeSettings:
    """Settings of the ``acme`` provider; None means the environment variable."""

    api_key: str | None = None
    base_url: str | None = None
    path: str = "/chat/completions"


@register
class AcmeProvider(HttpProvider):
    """``api: acme``: ``POST {base_url}{path}`` in OpenAI's chat shape."""

    api = "acme"
    settings_class = AcmeSettings
    settings_help = {
        "api_key": "null: $ACME_API_KEY",
        "base_url": "null: $ACME_BASE_URL",
        "path": "the chat route under base_url",
    }
    key_env = "ACME_API_KEY"
    url_env = "ACME_BASE_URL"
    price_provider = "openai"
    usage_provider = "openai"

    async def complete(self, record: PromptRecord) -> Completion:
        model = record.model_name
        url = f"{self.base_url(model)}{self.settings().path}"
        headers = {"Authorization": f"Bearer {self.key(model)}"}
        return await send_chat_completions(self, record, url, headers, model)
'''

ACME_YAML = """# api: acme (OpenAI-compatible). null means the environment variable named beside it.
api_key: null    # $ACME_API_KEY
base_url: null   # $ACME_BASE_URL
path: /chat/completions
"""


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """runner/ and conf/ copied, plus the provider's module and yaml: no other edit."""
    copy = tmp_path / "copy"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(PACKAGE, copy / "runner", ignore=ignore)
    shutil.copytree(PACKAGE.parent / "conf", copy / "conf", ignore=ignore)
    (copy / "runner" / "providers" / "acme.py").write_text(ACME, encoding="utf-8")
    (copy / "conf" / "api" / "acme.yaml").write_text(ACME_YAML, encoding="utf-8")
    return copy


def _run(copy: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(copy), **env}
    argv = runner_argv(tmp_path, *args)
    return subprocess.run(
        argv, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=180
    )


def test_a_new_provider_module_and_its_yaml_run_a_prompt(
    package_copy: Path, tmp_path: Path, llmock_server: servers.Server
) -> None:
    model = "gpt-4o-mini"
    records = [{"id": "p1", "api": "acme", "model_name": model, "prompt": "hello acme"}]
    write_jsonl(tmp_path / "experiments" / "acme.jsonl", records)
    tag = uuid.uuid4().hex[:8]
    done = _run(
        package_copy,
        tmp_path,
        "experiment=acme",
        f"run_id=r{tag}",
        ACME_API_KEY="test-key",
        ACME_BASE_URL=f"{llmock_server.url}/v1",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = (tmp_path / "outputs" / "acme").glob(f"r{tag}/completed.jsonl")
    (line,) = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
    assert line["status"] == "ok", line
    assert line["api"] == "acme" and line["response"]
    assert line["cost_usd"] is not None  # priced by the genai-prices provider it declares


def test_its_settings_block_is_in_the_schema_and_the_help(
    package_copy: Path, tmp_path: Path
) -> None:
    shown = _run(package_copy, tmp_path, "--help")
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "apis.acme.path=/chat/completions" in shown.stdout
    assert "the chat route under base_url" in shown.stdout
    wrong = _run(package_copy, tmp_path, "experiment=acme", "apis.acme.paht=/x")
    assert wrong.returncode == 2
    assert "apis.acme.path" in wrong.stderr  # the closest setting is named


def test_the_copy_is_the_package_this_test_runs_against(package_copy: Path) -> None:
    """The subprocesses import the copy (PYTHONPATH first), not an installed runner."""
    code = "import runner, runner.providers.acme; print(runner.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(package_copy), "HOME": str(package_copy)},
        cwd=package_copy.parent,  # not the checkout: python -c puts the folder first
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0, found.stderr[-3000:]
    assert found.stdout.strip() == str(package_copy / "runner" / "__init__.py")
