"""A plain run remembers its composed config: a hit gives the RunConfig a fresh compose gives.

Issue 25 item 6 (speed): composing through Hydra is a third of a one-prompt run, so a plain
run loads the config an identical command composed before (runner.config.composed), keyed
by the overrides and every config file searched; interpolations resolve at load.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from runner.config import to_settings
from runner.config.models import as_choices, name_models
from runner.config.overrides import spelled_for_hydra
from runner.config.run_mode import Remembered, run_once
from runner.config.schema import RunConfig
from runner.config.setup import (
    check_command,
    compose_config,
    experiments_dir,
    quote_plain_values,
    register_for_compose,
)
from tests.helpers import write_jsonl


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def _project(tmp_path: Path) -> list[str]:
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [{"api": "openai", "prompt": "x"}])
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "mine.yaml").write_text("api: openai\nmodel_name: my-model\n")
    (tmp_path / "conf" / "api").mkdir()
    (tmp_path / "conf" / "api" / "by_env.yaml").write_text("base_url: ${oc.env:MY_TEST_URL}\n")
    return [
        "experiment=exp",
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
    ]


class _Plain:
    """A plain run's path in runner.__main__ (check, remember, run once), counting composes."""

    def __init__(self) -> None:
        self.composed = 0
        self.settings: list[RunConfig] = []
        self.run_dirs: list[str] = []
        self.hydra: list[tuple[list[str], str]] = []

    def run(self, args: list[str]) -> int:
        args = quote_plain_values(as_choices(spelled_for_hydra(args)))
        dirs = check_command(args)

        def prepare() -> None:
            self.composed += 1
            register_for_compose(args, dirs)

        remember = Remembered(dirs, experiments_dir(args), prepare)
        return run_once(args, self._task, remember=remember)

    def _task(self, cfg: DictConfig) -> int:
        choices = HydraConfig.get().runtime.choices
        self.run_dirs.append(HydraConfig.get().runtime.output_dir)
        job = HydraConfig.get()
        self.hydra.append((list(job.overrides.task), str(job.job.override_dirname)))
        self.settings.append(to_settings(name_models(cfg, choices)))
        return 0


COMMAND_LINES = [
    ["run_id=fixed"],
    ["run_id=fixed", "model=gpt_4o_mini", "max_queries=7"],
    ["run_id=fixed", "model=mine", "evaluation=judge_correctness"],
    ["run_id=fixed", "api@apis.openai=by_env"],
    ["run_id=fixed", "evaluation=judge_correctness", "evaluation.correctness.model=mine"],
]


@pytest.mark.parametrize("extra", COMMAND_LINES, ids=lambda a: " ".join(a[1:]) or "plain")
def test_a_remembered_config_gives_the_settings_a_fresh_compose_gives(
    tmp_path: Path, extra: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TEST_URL", "http://first.invalid/v1")
    args = [*_project(tmp_path), *extra]
    fresh = to_settings(compose_config(args))
    plain = _Plain()
    assert plain.run(args) == 0  # composes, remembers
    assert plain.run(args) == 0  # loads
    assert plain.composed == 1
    assert plain.settings == [fresh, fresh]
    if "api@apis.openai=by_env" in extra:  # resolved at load, from today's environment
        monkeypatch.setenv("MY_TEST_URL", "http://second.invalid/v1")
        assert plain.run(args) == 0
        assert plain.composed == 1
        assert plain.settings[-1].apis.openai.base_url == "http://second.invalid/v1"


def test_each_remembered_run_gets_its_own_run_id(tmp_path: Path) -> None:
    args = _project(tmp_path)
    plain = _Plain()
    for _ in range(3):
        assert plain.run(args) == 0
    assert plain.composed == 1
    assert len(set(plain.run_dirs)) == 3
    assert all(Path(d).is_dir() for d in plain.run_dirs)


def test_a_config_file_added_or_edited_is_composed_anew(tmp_path: Path) -> None:
    args = [*_project(tmp_path), "model=mine", "run_id=fixed"]
    plain = _Plain()
    plain.run(args)
    mine = tmp_path / "conf" / "model" / "mine.yaml"
    mine.write_text("api: openai\nmodel_name: my-other-model\n")
    os.utime(mine, ns=(1, 1))  # however coarse the clock, the file's stat differs
    plain.run(args)
    assert plain.composed == 2
    model = plain.settings[-1].model
    assert model is not None
    assert model.model_name == "my-other-model"
    (tmp_path / "conf" / "model" / "another.yaml").write_text("api: openai\nmodel_name: a\n")
    plain.run(args)
    assert plain.composed == 3
    plain.run([*args, "max_queries=3"])  # another override list
    assert plain.composed == 4


def test_an_edit_that_keeps_the_size_and_puts_the_time_back_is_composed_anew(
    tmp_path: Path,
) -> None:
    # cp -p, rsync -a, touch -r: the stat is the old one, the bytes are not.
    args = [*_project(tmp_path), "model=mine", "run_id=fixed"]
    plain = _Plain()
    plain.run(args)
    mine = tmp_path / "conf" / "model" / "mine.yaml"
    before = mine.stat()
    text = mine.read_text()
    edited = text.replace("model_name: ", "model_name: Z", 1)[:-1]  # one added, one taken
    assert edited != text and len(edited) == len(text)
    mine.write_text(edited)
    os.utime(mine, ns=(before.st_atime_ns, before.st_mtime_ns))
    plain.run(args)
    assert plain.composed == 2


def test_an_unreadable_entry_is_a_miss(tmp_path: Path) -> None:
    args = _project(tmp_path)
    plain = _Plain()
    plain.run(args)
    (entry,) = (tmp_path / "xdg" / "runner" / "composed").glob("*.pickle")
    entry.write_bytes(b"not a pickle")
    assert plain.run(args) == 0
    assert plain.composed == 2
    entry.write_bytes(b"\x80\x05\x95")  # a truncated pickle
    assert plain.run(args) == 0
    assert plain.composed == 3


def test_a_config_the_run_refused_is_not_remembered(tmp_path: Path) -> None:
    args = _project(tmp_path)
    refusing = _Plain()
    refusing._task = functools.partial(lambda cfg: 2)  # type: ignore[method-assign]
    assert refusing.run(args) == 2
    assert not list((tmp_path / "xdg").rglob("*.pickle"))


def test_a_config_with_a_password_in_a_url_is_not_remembered(tmp_path: Path) -> None:
    # Config refuses literal keys but lets a URL carry credentials: never written to a cache.
    args = [*_project(tmp_path), "apis.openai.base_url=https://user:pw-secret-1@host.invalid/v1"]
    plain = _Plain()
    assert plain.run(args) == 0
    assert plain.run(args) == 0
    assert plain.composed == 2
    assert not list((tmp_path / "xdg").rglob("*.pickle"))


def test_a_new_run_id_or_outputs_dir_loads_the_config_and_sets_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [*_project(tmp_path), "model=mine"]
    plain = _Plain()
    plain.run([*args, "run_id=first"])
    again = [*args[:-2], f"outputs_dir={tmp_path / 'elsewhere'}", "model=mine", "run_id=2nd"]
    assert plain.run(again) == 0
    assert plain.composed == 1
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-cache"))
    fresh = _Plain()
    fresh.run(again)
    assert fresh.composed == 1
    assert plain.settings[-1] == fresh.settings[-1]
    assert plain.settings[-1].run_id == "2nd"
    assert plain.hydra[-1] == fresh.hydra[-1]
    assert Path(plain.run_dirs[-1]) == tmp_path / "elsewhere" / "exp" / "2nd"


def test_an_entry_others_may_write_is_not_loaded(tmp_path: Path) -> None:
    args = _project(tmp_path)
    plain = _Plain()
    plain.run(args)
    (entry,) = (tmp_path / "xdg" / "runner" / "composed").glob("*.pickle")
    assert entry.stat().st_mode & 0o077 == 0
    entry.chmod(0o666)
    plain.run(args)
    assert plain.composed == 2
