"""A thin entry point (issue 25, item 6): Hydra's public API only, the exit status returned.

Sweeps went through ``hydra.main`` and each job left its exit status in a temp folder
(``runner-exit-*``); a plain run called Hydra's private ``Callbacks``; the command-line
helper read argparse's private ``_SubParsersAction``. Now a sweep's jobs hand their status
back in their ``JobReturn`` (whichever launcher ran them), and a run imports none of the
index's or the report's heavy modules before it sends.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, ClassVar

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

import runner
from runner.config.run_mode import run_once, run_sweep

RUNNER = Path(runner.__file__).parent


def _private_uses(path: Path) -> list[str]:
    """``hydra._internal`` imports and ``argparse._X`` reads in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hydra._"):
            found.append(f"{path.name}:{node.lineno} from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names
                      if a.name.startswith("hydra._")]  # fmt: skip
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in {"argparse", "hydra"}
            and node.attr.startswith("_")
        ):
            found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_nothing_in_runner_uses_hydras_or_argparses_private_api() -> None:
    found = [use for path in sorted(RUNNER.rglob("*.py")) for use in _private_uses(path)]
    assert not found, found


_BEFORE_SENDING = """
import sys
import runner.run.stages
from runner import __main__ as entry

heavy = ("pandas", "duckdb", "jinja2", "jsonschema", "genai_prices", "rich", "numpy")
seen = []
send_all = runner.run.stages.send_all

def watched(*args, **kwargs):
    seen.extend(m for m in heavy if m in sys.modules)
    return send_all(*args, **kwargs)

runner.run.stages.send_all = watched
code = entry.main(sys.argv[1:])
print("HEAVY:", ",".join(seen) or "-")
sys.exit(code)
"""


class Recorder(Callback):
    """A callback a config lists under ``hydra.callbacks``: it notes what Hydra tells it."""

    events: ClassVar[list[object]] = []

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.events.append("run_start")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.events.append("multirun_start")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        self.events.append(("job_end", job_return.return_value))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.events.append("run_end")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.events.append("multirun_end")


def _conf(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text(
        "x: 0\n"
        "hydra:\n"
        f"  run: {{dir: '{tmp_path / 'run'}'}}\n"
        f"  sweep: {{dir: '{tmp_path / 'sweep'}', subdir: '${{hydra.job.num}}'}}\n"
        "  callbacks:\n"
        f"    recorder: {{_target_: {__name__}.Recorder}}\n"
    )
    return conf


def test_a_run_calls_the_configured_callbacks_and_returns_the_tasks_status(
    tmp_path: Path,
) -> None:
    Recorder.events.clear()
    assert run_once(["x=3"], lambda cfg: int(cfg.x) + 4, _conf(tmp_path)) == 7
    assert Recorder.events == ["run_start", ("job_end", 7), "run_end"]
    assert (tmp_path / "run").is_dir()


def test_a_sweep_hands_back_every_jobs_return(tmp_path: Path) -> None:
    Recorder.events.clear()
    jobs = run_sweep(["x=1,2,3"], lambda cfg: int(cfg.x), _conf(tmp_path))
    assert [job.return_value for job in jobs] == [1, 2, 3]
    dirs = [job.hydra_cfg.hydra.runtime.output_dir for job in jobs if job.hydra_cfg is not None]
    assert [Path(d).name for d in dirs] == ["0", "1", "2"]
    ends = [("job_end", 1), ("job_end", 2), ("job_end", 3)]
    assert Recorder.events == ["multirun_start", *ends, "multirun_end"]
