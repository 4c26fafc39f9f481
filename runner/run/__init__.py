"""One run, end to end, in named stages: read, plan, send, write, summarise, index, report.

Everything here takes typed settings; the command line and the Python API both call
:func:`execute_run`, which runs a :class:`runner.run.stages.Run`.
"""

from runner.engine.stopping import EXIT_INTERRUPTED
from runner.prepare import PreparedRun, experiment_name, prepare_run
from runner.run.endings import mean_scores, write_run_report
from runner.run.execute import execute_run
from runner.run.result import RunResult, default_run_dir
from runner.run.stages import STAGES, Run

__all__ = [
    "EXIT_INTERRUPTED",
    "STAGES",
    "PreparedRun",
    "Run",
    "RunResult",
    "default_run_dir",
    "execute_run",
    "experiment_name",
    "mean_scores",
    "prepare_run",
    "write_run_report",
]
