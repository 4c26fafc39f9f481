"""A new user's first hour: commands that work as printed, help that helps, a quiet model.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_commands.py.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from runner.config import compose_config
from runner.config.help import markdown_table, settings
from tests.helpers import USER_CACHE

ROOT = Path(__file__).resolve().parents[2]


README = ROOT / "README.md"


def test_every_setting_has_a_line_and_its_real_default() -> None:
    """The help's defaults are what a run composes (the schema and conf/ agree)."""
    cfg = compose_config(["experiment.file=any.jsonl"])
    from runner.config.help import format_value

    for setting in settings():
        value = OmegaConf.select(cfg, setting.key)
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value)
        assert format_value(value) == setting.default, setting.key
        assert setting.description


def test_readme_settings_table_is_the_schemas() -> None:
    table = markdown_table()
    assert table in README.read_text(encoding="utf-8"), (
        "README's settings table differs from the schema; paste the output of "
        '`python -c "import runner.providers; from runner.config.help import markdown_table as t; '
        'print(t())"`'
    )
    for key in ("log_level", "ray_address", "apis.local.model_path", "experiment=NAME"):
        assert f"| `{key}`" in table


def test_readme_tables_are_not_split() -> None:
    """A blank line inside a table ends it; the rows after it render as a paragraph."""
    tables: list[list[str]] = []
    previous = ""
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            if previous.startswith("|"):
                tables[-1].append(line)
            else:
                tables.append([line])
        previous = line
    assert len(tables) >= 4
    for rows in tables:
        assert len(rows) >= 3 and re.match(r"^\|[-| :]+\|$", rows[1]), rows[0]


def test_tests_never_write_into_the_users_cache() -> None:
    from runner.limits.shared_limits import default_limits_dir
    from runner.providers.local import default_cache_dir

    users = (USER_CACHE / "runner").resolve()
    for folder in (default_limits_dir(), default_cache_dir()):
        assert not folder.resolve().is_relative_to(users), folder
    cache = Path(os.environ["XDG_CACHE_HOME"])
    assert cache.is_relative_to(Path(os.environ.get("TMPDIR", "/tmp")).resolve())


def test_native_load_messages_go_to_the_log_not_the_terminal(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from loguru import logger

    from runner.providers.native_log import native_stderr_to_log

    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="DEBUG")
    try:
        with native_stderr_to_log("llama.cpp"):
            os.write(2, b"llama_kv_cache_iswa: using full-size SWA cache\n")
            os.write(2, b"load_tensors: loading model tensors\nsomething else went wrong\n")
    finally:
        logger.remove(sink)
    err = capfd.readouterr().err
    assert "llama_kv_cache_iswa" not in err and "load_tensors" not in err
    assert "something else went wrong" in err
    assert any("llama.cpp: llama_kv_cache_iswa" in m for m in seen)


def test_runner_is_installed_as_a_command() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, func = scripts["runner"].partition(":")
    assert module == "runner.__main__" and callable(
        getattr(__import__(module, fromlist=[func]), func)
    )
