"""Before sending: read the experiment, check every record, plan the groups.

Nothing here sends anything: a problem anywhere stops the run with every problem listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner import redaction
from runner.batch.registry import batch_mode, batch_problem
from runner.config.schema import RunConfig
from runner.config.settings import resolve_path
from runner.cost.estimate import check_budget_priced
from runner.errors import BadInputError, ConfigError
from runner.limits.from_settings import request_rates, token_limit_settings
from runner.limits.group_limits import check_store
from runner.output.resume import line_done
from runner.prompts.expand import Expansion, is_template, write_spec
from runner.prompts.grouping import GroupAssigner
from runner.prompts.output_schema import SchemaApplier, SchemaError, load_schema
from runner.prompts.plan import Plan, plan_experiment
from runner.prompts.records import PromptRecord, record_problems
from runner.prompts.select import selection
from runner.providers import Provider, ProviderContext, ProviderSet, known_apis

if TYPE_CHECKING:
    from runner.evaluation import EvaluationRun


@dataclass
class PreparedRun:
    """A checked experiment, ready to send."""

    experiment: str
    plan: Plan
    provider_set: ProviderSet
    evaluation: EvaluationRun | None = None

    @property
    def providers(self) -> dict[str, Provider]:
        """The providers of the apis the plan sends to, by api (one each)."""
        return self.provider_set.providers

    @property
    def context(self) -> ProviderContext:
        """What every provider of the run gets: settings, environment, HTTP session."""
        return self.provider_set.context

    @property
    def input_file(self) -> Path:
        return self.plan.input_file

    @property
    def records(self) -> Iterator[PromptRecord]:
        """Every planned record, read lazily from the plan's spool."""
        for name in self.plan.groups:
            yield from self.plan.records(name)


def experiment_name(settings: RunConfig) -> str:
    """The experiment's name: set in its YAML, else the file name without its extension."""
    return settings.experiment.name or Path(settings.experiment.file).stem


def input_path(settings: RunConfig, expansion: Expansion | None = None) -> Path:
    """The experiment file named by the settings (a template experiment's spec, written)."""
    if expansion is None and is_template(settings):
        expansion = Expansion.of(settings)
    if expansion is not None:
        return write_spec(expansion, settings.experiment.prompt)
    return resolve_path(Path(settings.experiments_dir), settings.experiment.file)


def default_output_schema(settings: RunConfig) -> dict[str, Any] | None:
    """The model's ``output_schema``, else the run's (None: answers are plain text).

    Raises:
        ConfigError: the schema cannot be read or is not a JSON Schema.
    """
    model = settings.model
    for where, value in (
        ("model.output_schema", None if model is None else model.output_schema),
        ("output_schema", settings.output_schema),
    ):
        if value is not None:
            try:
                return load_schema(value, Path.cwd())
            except SchemaError as exc:
                raise ConfigError(f"{where}: {exc}") from None
    return None


def prepare_run(
    settings: RunConfig,
    env: Mapping[str, str],
    done: bytearray | None = None,
    run_dir: Path | None = None,
) -> PreparedRun:
    """Read and check an experiment, and plan its groups; nothing is sent.

    Args:
        settings: the run's settings.
        env: environment variables (keys and endpoints).
        done: a bitmap of input lines already done (resume); they are skipped.
        run_dir: where evaluation results go (when ``settings.evaluation`` has steps).

    Raises:
        BadInputError: the file is unreadable, or some records cannot be sent (all listed).
    """
    redaction.remember_env(env)  # keys passed in (the Python API) are masked too
    if settings.on_invalid not in ("stop", "skip"):
        raise ConfigError(f"on_invalid must be stop or skip, got {settings.on_invalid!r}")
    check_store(settings)  # the shared limits' folder, before a run folder is made
    providers = ProviderSet(ProviderContext(settings, env=env))
    evaluation = None
    if settings.evaluation:
        from runner.evaluation import EvaluationRun  # only runs that evaluate pay for it

        evaluation = EvaluationRun.create(settings, run_dir or Path("."), env=env)
    check = RecordCheck(settings, providers, evaluation)
    expansion = Expansion.of(settings) if is_template(settings) else None
    plan = _plan(settings, expansion, check, providers.credential, done)
    try:
        _refuse_or_warn(settings, plan, expansion)
    except BaseException:
        plan.close()
        raise
    m = settings.model
    if m is not None and plan.model_changed:
        logger.info(
            "model={}: {} prompt(s) named another api/model_name and now use {}/{}",
            m.model_name,
            plan.model_changed,
            m.api,
            m.model_name,
        )
    return PreparedRun(experiment_name(settings), plan, providers, evaluation)


class RecordCheck:
    """What stops a record from being sent, asked of each record as the plan reads it.

    A record's provider comes from the run's :class:`ProviderSet` (made there on the
    first record of its api); the check itself makes nothing.
    """

    def __init__(
        self, settings: RunConfig, providers: ProviderSet, evaluation: EvaluationRun | None
    ) -> None:
        self.apis = known_apis()
        self.providers = providers
        self.evaluation = evaluation
        self.batch = batch_mode(settings)
        self.schemas = SchemaApplier(default_output_schema(settings), input_path(settings).parent)

    def __call__(self, record: PromptRecord) -> list[str]:
        """Every problem of ``record``, each naming where it is (none: it can be sent)."""
        found = record_problems(record, self.apis) or self.schemas.apply(record)
        if found:
            return found
        problem = batch_problem(record) if self.batch else None
        if problem:
            return [f"{record.where}: {problem}"]
        provider = self.providers.provider(record.api)
        found = [f"{record.where}: {p}" for p in provider.problems(record)]
        if self.evaluation is not None and not found:
            found = [f"{record.where}: {p}" for p in self.evaluation.validate([record])]
        return found


def _plan(
    settings: RunConfig,
    expansion: Expansion | None,
    check: Callable[[PromptRecord], list[str]],
    credential: Callable[[PromptRecord], str],
    done: bytearray | None,
) -> Plan:
    """Read the experiment once: every record checked, grouped and spooled."""
    max_queries, limits = request_rates(settings)
    assigner = GroupAssigner(
        max_queries=max_queries,
        parallel=settings.parallel,
        max_queries_dict=limits,
        token_limits=token_limit_settings(settings),
    )
    m = settings.model
    return plan_experiment(
        input_path(settings, expansion),
        assigner,
        check,
        credential,
        model=None if m is None else (m.api, m.model_name, dict(m.parameters)),
        skip_line=(lambda n: line_done(done, n)) if done else (lambda _n: False),
        keep_invalid=settings.on_invalid == "skip",
        source=None if expansion is None else expansion.records(),
        select=selection(settings.limit, settings.sample, settings.seed),
        shard=(settings.shard or 0, settings.shards) if settings.shards > 1 else None,
    )


def _refuse_or_warn(settings: RunConfig, plan: Plan, expansion: Expansion | None) -> None:
    """Stop on any problem (all listed) or an empty plan; warn of what is not sent."""
    where = plan.input_file if expansion is None else f"experiment {expansion.name}"
    if plan.problems:
        raise BadInputError(
            f"{where}: {plan.problem_count} problem(s) found; nothing was sent. Fix these:",
            plan.problems,
            plan.problem_count,
        )
    for warning in plan.warnings[:20]:
        logger.warning("{}", warning)
    if plan.invalid:
        logger.warning(
            "on_invalid=skip: {} invalid line(s) not sent, each recorded as an error",
            len(plan.invalid),
        )
    if plan.total == 0:
        raise BadInputError(
            f"{where}: the experiment file holds no "
            + ("valid records" if plan.invalid else "records")
        )
    check_budget_priced(settings, plan.model_counts)
