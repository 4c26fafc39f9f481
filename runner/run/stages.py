"""One run in named stages: read, plan, send, write, summarise, index, report.

:class:`Run` calls each stage once, in that order (:meth:`Run.execute`); what a stage
learns is kept on the run for the ones after it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from loguru import logger

from runner import logs
from runner.config.schema import RunConfig
from runner.cost.spending import Spending
from runner.engine.stopping import before_forced_exit
from runner.engine.timeline import Timeline
from runner.errors import DiskFullError
from runner.limits.clock import Clock, SystemClock
from runner.output.export import export_csv
from runner.output.results import invalid_lines
from runner.output.resume import repair_and_collect, resume_command
from runner.output.run_folder import RunFolder
from runner.output.run_lock import RunLock
from runner.output.stats import GroupStats
from runner.output.summary import Summary
from runner.output.writer import ResultWriter
from runner.prepare import PreparedRun, experiment_name, prepare_run
from runner.run.endings import (
    mean_scores,
    say_budget_reached,
    say_ending_stopped,
    some_groups,
    update_run_index,
    write_run_report,
    write_timeline,
)
from runner.run.folder_checks import (
    already_complete,
    check_resumable,
    ending_cut_off,
    refuse_existing,
    remove_killed_writes,
    require_run,
)
from runner.run.meta import FINAL_COUNTS, Invocation, start_meta, write_final_meta
from runner.run.result import RunResult
from runner.run.run_end import index_beside_report
from runner.send import send_all

# The stages of a run, in the order Run.execute calls them.
STAGES = ("read", "plan", "send", "write", "summarise", "index", "report")


class Run:
    """One run of an experiment into ``run_dir``, stage by stage (see :data:`STAGES`).

    Args:
        settings: the checked settings.
        run_dir: the run folder (made if missing; the resumed run's folder on resume).
        invocation: what this invocation records in ``run.json``.
        clock: time source; the system clock by default.
        env: environment variables for keys and endpoints; ``os.environ`` by default.
        on_start: called once the run is accepted (locked, checked), before anything is sent.
    """

    def __init__(
        self,
        settings: RunConfig,
        run_dir: Path,
        invocation: Invocation,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.folder = RunFolder(run_dir)
        self.invocation = invocation
        self.clock = clock or SystemClock()
        self.env = os.environ if env is None else env
        self.on_start = on_start
        self.lock = RunLock(self.folder.lock_file)
        self.done: bytearray | None = None  # read: the input lines a resumed run has done
        self.previous: dict[str, Any] = {}  # read: a resumed run's run.json
        self._prepared: PreparedRun | None = None  # plan
        self.meta: dict[str, Any] = {}  # run.json as it is being written
        self.status = "failed"  # send: completed, interrupted (or failed, by an error)
        self.stats: dict[str, GroupStats] = {}  # send: each group's counters
        self.timeline = Timeline()
        self._spending: Spending | None = None  # made as the sending starts
        self.scores: dict[str, tuple[float, int]] = {}  # write: each evaluation step's mean
        self._log_sink: int | None = None
        self._started = 0.0

    @property
    def prepared(self) -> PreparedRun:
        """The checked, planned experiment (from the plan stage)."""
        if self._prepared is None:
            raise RuntimeError("the run has not been planned yet")
        return self._prepared

    @property
    def spending(self) -> Spending:
        """What the run spends: prices, the budget (shared by a sweep's jobs), totals."""
        if self._spending is None:
            raise RuntimeError("the run has not started sending yet")
        return self._spending

    @property
    def command(self) -> str:
        """The command that continues this run."""
        name = experiment_name(self.settings)
        return resume_command(name, self.folder.run_id, self.invocation.overrides)

    def execute(self) -> RunResult:
        """Every stage in order: a resume of a finished run stops after the plan."""
        try:
            self.read()
            self.plan()
            try:
                return self._run_planned()
            finally:
                self.prepared.plan.close()
        finally:
            self.lock.release()

    def _run_planned(self) -> RunResult:
        if not self.settings.resume:
            self.lock.acquire(self.folder.run_id)
            refuse_existing(self.settings, self.folder)  # again, now no one else can start it
        plan, evaluation = self.prepared.plan, self.prepared.evaluation
        unjudged = evaluation is not None and evaluation.pending  # see plan()
        if self.previous and plan.skipped == plan.total and not unjudged:
            done = already_complete(self.prepared, self.folder, self.previous)
            if ending_cut_off(self.folder, self.previous):
                done.extra["report"] = self._finish_ending(done.summary)
            return done
        if self.on_start is not None:
            self.on_start()
        self._open()
        try:
            self.send()
            self.write()
        finally:
            summary = self.summarise()  # whatever ended the sending: run.json says how
        # The index is brought up to date in a thread while the report renders (run_end.py).
        report = index_beside_report(self.index, self.report, self._ending_stopped)
        return RunResult(self.folder, summary, {"scores": self.scores, "report": report})

    def read(self) -> None:
        """The run folder: a new run's must not exist; a resumed run's is locked and read."""
        if not self.settings.resume:
            refuse_existing(self.settings, self.folder)
            return
        require_run(self.settings, self.folder)
        self.lock.acquire(self.folder.run_id)  # before the repair: it rewrites completed.jsonl
        self.previous = check_resumable(self.settings, self.folder)
        self.done = repair_and_collect(self.folder)
        remove_killed_writes(self.folder)

    def plan(self) -> None:
        """Read the experiment, check every record and plan the groups; nothing is sent."""
        self._prepared = prepare_run(self.settings, self.env, self.done, self.folder.path)
        self.prepared.context.run_id = self.folder.run_id  # the cache keeps lookups by run
        evaluation = self.prepared.evaluation
        if self.previous and evaluation is not None:
            scored = evaluation.score_unscored(self.folder.completed)
            if scored:
                logger.info("Scoring {} result(s) a step had not scored yet", scored)

    def send(self) -> None:
        """Send every prompt; each result goes to ``completed.jsonl`` as soon as it is known."""
        prepared, folder = self.prepared, self.folder
        try:
            with ResultWriter(folder.completed) as writer, before_forced_exit(self._forced_exit):
                for line in invalid_lines(
                    prepared.plan.invalid, run_id=folder.run_id, experiment=prepared.experiment
                ):
                    writer.write(line)
                self.stats, interrupted = asyncio.run(
                    send_all(
                        prepared,
                        self.settings,
                        self.clock,
                        writer,
                        folder.run_id,
                        self.timeline,
                        self.spending,
                    )
                )
            self.status = "interrupted" if interrupted else "completed"
        except KeyboardInterrupt:
            self.status = "interrupted"
            raise

    def write(self) -> None:
        """What the run leaves beside its results: the CSV, the evaluations closed and scored."""
        if self.settings.csv:
            export_csv(self.folder.completed, self.folder.csv)
        evaluation = self.prepared.evaluation
        if evaluation is not None:
            evaluation.close()
            self.scores = mean_scores(self.folder.path / "evaluations.jsonl")

    def summarise(self) -> Summary:
        """The run's counts into ``run.json`` (with how it ended), its timeline; both told."""
        summary = self._summary()
        failing = self.status == "failed"
        finished = self.clock.wall().isoformat()
        self.meta.update(summary.as_dict(), status=self.status, finished_at=finished)
        write_final_meta(self.folder, self.meta, failing=failing)
        write_timeline(self.timeline, self.folder, failing=failing)
        logger.debug("Summary\n{}", summary.format())
        if self.status == "interrupted":
            logger.warning("Stopped. Resume with: {}", self.command)
        if self.spending.budget.exhausted:
            say_budget_reached(self.spending, self.command)
        self.spending.close()
        if self._log_sink is not None:
            logs.remove_sink(self._log_sink)
        return summary

    def index(self) -> None:
        """Bring the outputs' DuckDB index up to date (``index=true``); never fails the run."""
        if self.settings.index:
            evaluated = self.folder.path if self.prepared.evaluation else None
            update_run_index(Path(self.settings.outputs_dir), evaluated)

    def report(self) -> Path | None:
        """Write the run's ``report.html``; a report that fails never fails the run."""
        return write_run_report(self.folder)

    def _open(self) -> None:
        """The folder made (a new run), ``run.log`` opened, ``run.json`` saying "running"."""
        folder, plan = self.folder, self.prepared.plan
        if not self.previous:
            folder.create(self.prepared.input_file)
        self._log_sink = logs.add_run_log(folder.log)
        started = self.clock.wall().isoformat()
        self._started = self.clock.monotonic()
        self.meta = start_meta(self.prepared, folder, self.invocation, self.previous, started)
        try:
            folder.write_meta(self.meta)
        except DiskFullError:
            logs.remove_sink(self._log_sink)
            raise
        logger.info(
            "Run {}: {} prompts from {}{} in {} group(s): {}",
            folder.run_id,
            plan.total,
            plan.input_file,
            f" ({plan.skipped} already done)" if plan.skipped else "",
            len(plan.groups),
            some_groups(list(plan.groups.values())),
        )
        self._spending = Spending.for_run(self.settings, self.invocation.sweep_dir)

    def _finish_ending(self, summary: Summary) -> Path | None:
        """What a run killed after its last result left undone: run.json, index, report."""
        logger.info(
            "Run {} ended before its run.json, index and report were written: writing them",
            self.folder.run_id,
        )
        if self.previous.get("status") != "completed":
            counts = {k: v for k, v in summary.as_dict().items() if k in FINAL_COUNTS}
            finished = self.clock.wall().isoformat()
            self.meta = {**self.previous, **counts, "status": "completed", "finished_at": finished}
            write_final_meta(self.folder, self.meta, failing=False)
        return index_beside_report(self.index, self.report, self._ending_stopped)

    def _ending_stopped(self) -> None:
        say_ending_stopped(self.folder, Path(self.settings.outputs_dir))

    def _forced_exit(self) -> None:
        # A second Ctrl-C skips the ending: record the stop and say how to go on.
        self.meta.update(status="interrupted", finished_at=self.clock.wall().isoformat())
        self.folder.write_meta(self.meta)
        logger.warning("Stopped. Resume with: {}", self.command)

    def _summary(self) -> Summary:
        plan, stats = self.prepared.plan, self.stats.values()
        return Summary(
            run_id=self.folder.run_id,
            experiment=self.prepared.experiment,
            total=plan.total + len(plan.invalid),
            ok=plan.skipped + sum(s.ok for s in stats),
            error=len(plan.invalid) + sum(s.error for s in stats),
            invalid=len(plan.invalid),
            not_sent=sum(s.not_sent for s in stats),
            wall_time_s=self.clock.monotonic() - self._started,
            groups=self.stats,
            skipped=plan.skipped,
            interrupted=self.status == "interrupted",
            cost=self.spending.as_dict(self.previous.get("cost")),
        )
