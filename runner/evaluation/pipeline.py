"""An evaluation run: checked steps, scored inline on each result line, judges sent after.

The API the run (and ``python -m runner.evaluate``) uses::

    evaluation = EvaluationRun.create(settings, run_dir, env=env)   # BadInputError if wrong
    problems = evaluation.validate(records)                          # before anything is sent
    evaluation.on_result(line)                                       # for every result line
    await evaluation.run_judges(context, providers=providers)        # queued judge prompts
    evaluation.close()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from runner.config.schema import RunConfig
from runner.cost.spending import Spending
from runner.engine.session import engine_session
from runner.errors import BadInputError
from runner.evaluation import judge as judging
from runner.evaluation.steps import Step, check_step
from runner.evaluation.store import EvaluationWriter, read_rows
from runner.limits.clock import Clock
from runner.limits.from_settings import request_rate
from runner.output.results import STATUS_OK, Outcome, full_line
from runner.output.stats import GroupStats
from runner.prompts.grouping import Group, Tagged, default_max_queries
from runner.prompts.records import PromptRecord
from runner.providers import Provider, ProviderContext


def _where(record: PromptRecord | Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    if isinstance(record, PromptRecord):
        return record.data, record.where
    return record, f"{record.get('prompt_key', '?')} (line {record.get('line', '?')})"


class EvaluationRun:
    """The evaluation of one run: scores go to ``<run_dir>/evaluations.jsonl``."""

    def __init__(self, settings: RunConfig, steps: list[Step], run_dir: Path) -> None:
        self.settings = settings
        self.steps = steps
        self.run_dir = Path(run_dir)
        self.writer = EvaluationWriter(self.run_dir)
        self.pending: list[judging.JudgeRequest] = []
        # Set while judges run alongside generation (runner.evaluation.live): judge
        # prompts go there as results arrive instead of waiting in ``pending``.
        self.live_sink: Callable[[judging.JudgeRequest], None] | None = None
        self.errors = 0  # step results that recorded an error

    @classmethod
    def create(
        cls,
        settings: RunConfig,
        run_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        records: Sequence[PromptRecord | Mapping[str, Any]] | None = None,
    ) -> EvaluationRun:
        """Check ``settings.evaluation`` (and ``records`` when given) before anything is sent.

        Raises:
            BadInputError: every problem found: an unknown scorer, a function that does not
                import, a judge model that does not exist, a template key records lack, ...
        """
        steps: list[Step] = []
        problems: list[str] = []
        for name, config in settings.evaluation.items():
            step, found = check_step(name, config, settings, env or {})
            problems += [f"evaluation step {name!r}: {p}" for p in found]
            if step is not None:
                steps.append(step)
        evaluation = cls(settings, steps, run_dir)
        if records is not None and not problems:
            problems = evaluation.validate(records)
        if problems:
            raise BadInputError(
                f"{len(problems)} problem(s) in the evaluation; nothing was sent. Fix these:",
                problems,
            )
        return evaluation

    def __bool__(self) -> bool:
        return bool(self.steps)

    @property
    def has_judges(self) -> bool:
        return any(step.model is not None for step in self.steps)

    def validate(self, records: Sequence[PromptRecord | Mapping[str, Any]]) -> list[str]:
        """Record keys the steps need and some records lack, one problem per step and key."""
        problems: list[str] = []
        for step in self.steps:
            for key in step.needed:
                lacking = [where for data, where in map(_where, records) if key not in data]
                if lacking:
                    shown = ", ".join(lacking[:3]) + (", ..." if len(lacking) > 3 else "")
                    problems.append(
                        f"evaluation step {step.name!r} reads {key!r}, which "
                        f"{len(lacking)} of {len(records)} record(s) lack: {shown}"
                    )
        return problems

    def on_result(self, line: Mapping[str, Any]) -> None:
        """Score one result line with every scorer now, and queue its judge prompts.

        Lines that ended in error are not scored: there is no response to judge.
        """
        if line.get("status") != STATUS_OK or not self.steps:
            return
        self._score(line, self.steps)

    def score_unscored(self, completed: Path) -> int:
        """A resumed run's ok lines some step never scored (the run was killed first).

        Scored now, their judge prompts queued (sent alongside the resume's generation);
        steps that scored a line are not asked again (a judge is not paid twice). Returns
        how many lines were scored.
        """
        from runner.evaluation.stored import read_lines  # it imports this module

        scored = {(str(r["prompt_key"]), str(r["step"])) for r in read_rows(self.writer.path)}
        count = 0
        for line in read_lines(completed) if completed.is_file() else []:
            key = str(line.get("prompt_key", ""))
            steps = [s for s in self.steps if (key, s.name) not in scored]
            if steps and line.get("status") == STATUS_OK:
                self._score(line, steps)
                count += 1
        return count

    def _score(self, line: Mapping[str, Any], steps: Sequence[Step]) -> None:
        line = full_line(dict(line))  # scorers and judges see every field, defaults included
        run_id = str(line.get("run_id") or self.run_dir.name)
        key = str(line.get("prompt_key", ""))
        for step in steps:
            if step.model is not None:
                record = judging.judge_record(step.name, step.config, step.model, line)
                request = judging.JudgeRequest(step.name, run_id, key, record)
                if self.live_sink is not None:
                    self.live_sink(request)
                else:
                    self.pending.append(request)
                continue
            assert step.fn is not None
            try:
                fields = _as_fields(step.fn(dict(line), **step.config.params))
            except Exception as exc:  # a failing scorer records its error; others go on
                fields = {"error": f"{type(exc).__name__}: {exc}"}
            if "error" in fields and fields["error"] is not None:
                self.errors += 1
            self.writer.write(run_id, key, step.name, fields)

    async def run_judges(
        self,
        context: ProviderContext,
        *,
        providers: Mapping[str, Provider] | None = None,
        clock: Clock | None = None,
        spending: Spending | None = None,
    ) -> dict[str, GroupStats]:
        """Send the queued judge prompts, one rate-limit group ``judge:<step>`` per step.

        Args:
            context: the run's provider context; a session is opened if it has none.
            providers: providers to reuse (a loaded local model); others are made here.
            clock: time source; the system clock by default.
            spending: prices, budget (``max_cost_usd``) and cost totals to count in.
        """
        requests, self.pending = self.pending, []
        if not requests:
            return {}
        steps = {s.name: s for s in self.steps}
        per_step: dict[str, list[Tagged]] = {}
        for request in requests:
            # Tagged: the outcome carries its request back.
            per_step.setdefault(request.step, []).append(Tagged(request.record, request))
        groups = {
            f"judge:{name}": Group(f"judge:{name}", self.rate_of(steps[name]), tagged)
            for name, tagged in per_step.items()
        }

        def sink(outcome: Outcome) -> None:
            request: judging.JudgeRequest = outcome.tag
            self.write_verdict(steps[request.step], request, outcome)

        apis = {request.record.api for request in requests}
        spent = spending or Spending.for_run(self.settings)
        async with engine_session(
            context,
            sink,
            providers=providers,
            apis=sorted(apis),
            clock=clock,
            observers=[spent.tally],
            budget=spent.budget,
            prices=spent.prices,
        ) as engine:
            return dict(await engine.run(groups))

    def rate_of(self, step: Step) -> float:
        """A judge's requests a minute: the step's beat its model's, which beat the run's."""
        model = step.model
        assert model is not None
        return request_rate(
            step=step.config.max_queries,
            model=model.max_queries,
            run=self.settings.max_queries,
            default=lambda: default_max_queries(model.api),
        )

    def write_verdict(self, step: Step, request: judging.JudgeRequest, outcome: Outcome) -> None:
        completion = outcome.completion
        assert step.model is not None and step.pattern is not None
        fields: dict[str, Any] = {"judge": f"{step.model.api}/{step.model.model_name}"}
        if completion is None or outcome.error is not None:
            fields["error"] = f"judge request failed: {outcome.error}"
        else:
            text = completion.text if isinstance(completion.text, str) else completion.text[-1]
            fields["raw"] = text
            try:
                fields.update(judging.parse_verdict(text, step.config, step.pattern))
            except judging.VerdictError as exc:
                fields["error"] = str(exc)
        if "error" in fields:
            self.errors += 1
        self.writer.write(request.run_id, request.prompt_key, step.name, fields)

    def close(self) -> None:
        """Close ``evaluations.jsonl``."""
        self.writer.close()
        if self.pending:
            logger.warning("{} judge prompt(s) were queued and never sent", len(self.pending))


def _as_fields(value: Any) -> dict[str, Any]:
    """A scorer's return value as fields: a mapping as is, anything else as ``score``."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return {"score": value}
