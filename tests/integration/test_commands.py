"""A new user's first hour: commands that work as printed, help that helps, a quiet model."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.config.help import settings
from tests import servers
from tests.helpers import read_jsonl, write_jsonl
from tests.unit.test_commands import README as README
from tests.unit.test_commands import ROOT as ROOT

PY = [sys.executable, "-m"]


def _run(*args: str, cwd: Path = ROOT, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PY, *args], capture_output=True, text=True, cwd=cwd, timeout=120, **kw)  # type: ignore[call-overload,no-any-return]


def test_help_is_runners_own_page() -> None:
    out = _run("runner", "--help")
    assert out.returncode == 0, out.stderr
    page = out.stdout
    assert "-m runner experiment=NAME [key=value ...]" in page
    assert "experiment=NAME is required" in page
    for setting in settings():
        assert re.search(rf"^  {re.escape(setting.key)}={re.escape(setting.default)}  ", page, re.M)
    for key in ("log_level=INFO", "ray_address=null", "apis.local.n_ctx=2048"):
        assert key in page
    assert "Configuration groups" in page
    for option in ("gpt_4o_mini", "gemma_local", "includes", "paraphrase", "joblib", "demo"):
        assert option in page
    assert "model_schema" not in page and "rephrase_schema" not in page
    assert "Powered by Hydra" not in page and "$APP_CONFIG_GROUPS" not in page
    assert "${oc.env:VAR}" in page and "$OPENAI_API_KEY" in page
    examples = page.split("== Examples ==", 1)[1]
    assert len(re.findall(r"^  \S+ -m runner .*experiment=", examples, re.M)) == 3


def test_help_lists_this_folders_experiments_with_any_flag_and_no_run(tmp_path: Path) -> None:
    # Printed by runner itself: Hydra's own --help deep-copied its config repository for
    # each of ~75 config groups first, 1.1-1.7 s a page (0.3 s now).
    (tmp_path / "exps").mkdir()
    (tmp_path / "exps" / "mine.jsonl").write_text("", encoding="utf-8")
    for flags in (["--help"], ["-h"], ["-m", "model=gpt_4o_mini,gemma_local", "--help"]):
        out = _run("runner", *flags, f"experiments_dir={tmp_path / 'exps'}", cwd=tmp_path)
        assert out.returncode == 0, (flags, out.stderr)
        assert "Configuration groups" in out.stdout and "mine" in out.stdout, flags
        assert not out.stdout.endswith("\n\n")
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()
    bad = _run("runner", "--help", "max_queries=fast", cwd=tmp_path)
    assert bad.returncode == 2 and "max_queries" in bad.stderr and not bad.stdout


@pytest.mark.parametrize("command", ["check", "evaluate", "rephrase", "index", "query"])
def test_every_subcommand_prints_help_and_exits_0(command: str) -> None:
    for flag in ("--help", "-h"):
        out = _run(f"runner.{command}", flag)
        assert out.returncode == 0, (command, out.stderr)
        assert out.stdout.startswith("usage: ") and f"-m runner.{command}" in out.stdout


def test_no_tracked_file_is_ignored() -> None:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--ignored", "--exclude-standard"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert out.stdout == ""
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert not any("config.yaml" in line for line in gitignore)


def test_evaluate_prints_each_steps_mean_score(tmp_path: Path) -> None:
    lines = [
        {"prompt": "Q", "response": r, "expected_response": "Paris", "status": "ok",
         "prompt_key": f"k{i}", "line": i + 1}
        for i, r in enumerate(["Paris", "Lyon"])
    ]  # fmt: skip
    write_jsonl(tmp_path / "outputs" / "exp" / "r1" / "completed.jsonl", lines)
    out = _run(
        "runner.evaluate",
        "run=r1",
        "evaluation=match",
        "index=false",
        f"outputs_dir={tmp_path / 'outputs'}",
    )
    assert out.returncode == 0, out.stderr
    assert "  evaluation match: mean score 0.50 over 2 result(s)" in out.stdout


@pytest.mark.model
def test_a_local_run_prints_no_llama_messages(tmp_path: Path, gemma_path: Path) -> None:
    write_jsonl(
        tmp_path / "experiments" / "q.jsonl",
        [{"api": "local", "prompt": "Hello", "parameters": {"max_tokens": 4}}],
    )
    out = _run(
        "runner",
        "experiment=q",
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        f"apis.local.model_path={gemma_path}",
        "progress=off",
        "index=false",
    )
    assert out.returncode == 0, out.stderr
    assert "llama_" not in out.stderr + out.stdout
    (log,) = (tmp_path / "outputs").rglob("run.log")
    assert "llama.cpp: llama_" in log.read_text()


def _make_n(folder: Path, target: str) -> list[str]:
    out = subprocess.run(
        ["make", "-n", target], capture_output=True, text=True, cwd=folder, check=True
    )
    return out.stdout.splitlines()


def test_make_demo_installs_the_local_model_only_and_test_adds_the_rest(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    demo = [line for line in _make_n(tmp_path, "demo") if "pip install" in line]
    assert any('-e ".[local]"' in line for line in demo), demo
    assert not any(x in " ".join(demo) for x in ("cluster", "dev", "ray", "slurm"))
    assert not any("--quiet" in line for line in demo if "-e " in line)  # pip shows progress
    # After the demo's set-up, `make test` adds the test extras to the same venv.
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").touch()
    (tmp_path / ".venv" / ".installed-demo").touch()
    test = [line for line in _make_n(tmp_path, "test") if "pip install" in line]
    assert test == ['.venv/bin/python -m pip install -e ".[local,dev,cluster]"'], test


def _readme_commands() -> list[str]:
    """The command lines of the README's bash blocks (continuations joined, comments cut)."""
    text = README.read_text(encoding="utf-8")
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def _safe(command: str) -> bool:
    """runner's own commands; not make (it builds the venv), not sweeps on other launchers."""
    return command.startswith(("python -m runner", "runner ")) and "hydra/launcher" not in command


def _shell_env(tmp_path: Path, server: servers.Server, gemma: Path) -> dict[str, str]:
    """A fresh shell in a checkout after `make demo`: .venv exists, PATH is the system's."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    cache = tmp_path / "cache"
    (cache / "runner" / "models").mkdir(parents=True)
    (cache / "runner" / "models" / gemma.name).symlink_to(gemma)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(cache),
        "PYTHONPATH": str(ROOT),  # this checkout, wherever the venv's editable install points
        "OPENAI_API_KEY": "sk-dummy",
        "OPENAI_BASE_URL": f"{server.url}/v1",
    }


@pytest.mark.integration
@pytest.mark.model
def test_readme_commands_work_as_printed(
    tmp_path: Path, llmock_server: servers.Server, gemma_path: Path
) -> None:
    # What the README says to do once per shell (activate the venv) precedes every command.
    setup = [c for c in _readme_commands() if c.startswith(("source ", ". "))]
    commands = [c for c in _readme_commands() if _safe(c)]
    assert len(commands) >= 6, commands
    shutil.copytree(ROOT / "experiments", tmp_path / "experiments")
    write_jsonl(
        tmp_path / "experiments" / "foo.jsonl",
        [
            {"id": "a", "api": "openai", "model_name": "gpt-4o", "prompt": "Capital of France?",
             "expected_response": "Paris"},
            {"id": "b", "api": "local", "model_name": "gemma-3-270m", "prompt": "Paris is",
             "parameters": {"max_tokens": 4}, "expected_response": "Paris"},
        ],
    )  # fmt: skip
    env = _shell_env(tmp_path, llmock_server, gemma_path)
    for command in commands:
        started = time.monotonic()
        out = subprocess.run(
            ["/bin/bash", "-c", " && ".join([*setup, command])],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
        assert out.returncode == 0, (command, out.stdout, out.stderr)
        print(f"{time.monotonic() - started:5.1f} s  {command}")
    assert read_jsonl(next((tmp_path / "outputs" / "demo").rglob("completed.jsonl")))


@pytest.mark.integration
def test_printed_query_line_works_in_a_fresh_shell(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """A run started without activating the venv (as `make demo` does) prints a command
    that works when pasted into a shell whose PATH has no venv."""
    write_jsonl(
        tmp_path / "experiments" / "exp.jsonl",
        [{"api": "openai", "model_name": "gpt-q", "prompt": "hi"}],
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "OPENAI_API_KEY": "sk-dummy",
        "OPENAI_BASE_URL": f"{llmock_server.url}/v1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "runner", "experiment=exp", "progress=off"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    (query,) = [line for line in out.stdout.splitlines() if line.startswith("Query:")]
    command = query.removeprefix("Query:").strip()
    assert not command.startswith("python ")
    pasted = subprocess.run(
        ["/bin/sh", "-c", command], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert pasted.returncode == 0, (command, pasted.stderr)
    assert "ok" in pasted.stdout
