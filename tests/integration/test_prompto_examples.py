"""prompto's own example files, unchanged: checked, then the multimodal ones sent.

Read from a git mirror of alan-turing-institute/prompto (``PROMPTO_REPO``, else the
workplace's mirror); skipped when there is none.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import run_experiment
from runner.check import check_experiment
from tests import servers
from tests.google_server import google_server
from tests.helpers import read_jsonl

MIRROR = Path(os.environ.get("PROMPTO_REPO", "/work/.mirror/alan-turing-institute+prompto/repo"))
pytestmark = pytest.mark.skipif(not MIRROR.is_dir(), reason="no prompto mirror")
# prompto refuses these too: a system message after the first (its own error examples).
PROMPTO_INVALID = {
    "gemini-example.jsonl:5": "a system message must come first",
    "vertexai-example.jsonl:5": "a system message must come first",
}
ENV = {
    "OPENAI_API_KEY": "k",
    "ANTHROPIC_API_KEY": "k",
    "GEMINI_API_KEY": "k",
    "AZURE_OPENAI_API_KEY": "k",
    "AZURE_OPENAI_API_ENDPOINT": "http://127.0.0.1:9",
    "OLLAMA_API_ENDPOINT": "http://127.0.0.1:9",
    "VERTEXAI_PROJECT_ID": "p",
    "VERTEXAI_ACCESS_TOKEN": "t",
}


def _git(*args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={MIRROR}", *args], check=True, capture_output=True
    ).stdout


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """prompto's examples/*/data/{input,media} as files."""
    root = tmp_path_factory.mktemp("prompto")
    names = _git("ls-tree", "-r", "--name-only", "HEAD", "examples").decode().splitlines()
    for name in names:
        if "/data/input/" in name or "/data/media/" in name:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_git("show", f"HEAD:{name}"))
    yield root / "examples"


def _overrides(path: Path, tmp_path: Path) -> list[str]:
    return [
        f"experiment={path.stem}",
        f"experiments_dir={path.parent}",
        f"media_dir={path.parent.parent / 'media'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        "index=false",
        "progress=off",
        "max_queries=6000",
    ]


def test_every_example_input_passes_the_check(examples: Path, tmp_path: Path) -> None:
    files = sorted(examples.glob("*/data/input/*.jsonl"))
    assert len(files) >= 10
    problems: dict[str, str] = {}
    for path in files:
        for problem in check_experiment(_overrides(path, tmp_path), ENV).problems:
            where = problem.split(": ", 1)[0]
            problems[f"{path.name}:{where.rsplit(':', 1)[1]}"] = problem
    assert set(problems) == set(PROMPTO_INVALID), problems
    for key, fragment in PROMPTO_INVALID.items():
        assert fragment in problems[key]


@pytest.mark.integration
@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
def test_multimodal_examples_are_sent(
    examples: Path, tmp_path: Path, llmock_server: servers.Server, api: str
) -> None:
    """Sent unchanged to llmock: every line answered, its media inline."""
    path = examples / api / "data" / "input" / f"{api}-multimodal-example.jsonl"
    env = {
        "OPENAI_API_KEY": "k",
        "OPENAI_BASE_URL": f"{llmock_server.url}/v1",
        "ANTHROPIC_API_KEY": "k",
        "ANTHROPIC_BASE_URL": f"{llmock_server.url}/anthropic",
        "GEMINI_API_KEY": "k",
        "GEMINI_BASE_URL": f"{llmock_server.url}/gemini/v1beta",
    }
    result = run_experiment(path.stem, _overrides(path, tmp_path), env=env)
    lines = read_jsonl(result.folder.completed)
    assert result.exit_code == 0, [line.get("error") for line in lines]
    assert len(lines) == len(path.read_text().splitlines())


def test_vertexai_multimodal_example_is_sent(examples: Path, tmp_path: Path) -> None:
    path = examples / "vertexai" / "data" / "input" / "vertexai-multimodal-example.jsonl"
    with google_server() as google:
        env = {**ENV, "VERTEXAI_BASE_URL": f"{google.url}/v1"}
        result = run_experiment(path.stem, _overrides(path, tmp_path), env=env)
        assert result.exit_code == 0
        bodies = [s.json() for s in google.requests("POST", "/v1/projects/p/")]
    assert len(bodies) == 3
    media = path.parent.parent / "media"
    jpeg_sizes = {(media / n).stat().st_size for n in ("pantani_giro.jpg", "mortadella.jpg")}
    inline = [
        p["inlineData"]
        for b in bodies
        for c in b["contents"]
        for p in c["parts"]
        if "inlineData" in p
    ]
    assert {d["mimeType"] for d in inline} == {"image/jpeg"}
    assert {len(d["data"]) * 3 // 4 - d["data"].count("=") for d in inline} == jpeg_sizes
