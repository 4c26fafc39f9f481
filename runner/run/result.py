"""What a run leaves behind, and the folder it goes to."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.config.schema import RunConfig
from runner.config.setup import new_run_id
from runner.output.export import read_results
from runner.output.resume import find_run
from runner.output.run_folder import RunFolder
from runner.output.summary import Summary
from runner.prepare import experiment_name
from runner.shards import shard_run_name

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class RunResult:
    """What a finished run left behind."""

    folder: RunFolder
    summary: Summary
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code

    def dataframe(self) -> pd.DataFrame:
        """Every result of the run, one row per prompt."""
        return read_results(self.folder.completed)


def default_run_dir(settings: RunConfig) -> Path:
    """The folder the command line would use: a new one, or the one being resumed."""
    outputs, name = Path(settings.outputs_dir), experiment_name(settings)
    if settings.resume:
        return find_run(outputs, name, settings.resume, settings.shard, settings.shards)
    run = settings.run_id or new_run_id()
    return outputs / name / shard_run_name(run, settings.shard, settings.shards)
