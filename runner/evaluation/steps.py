"""An evaluation's steps, each checked from its settings: a scorer function, or a judge."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.config.models import not_composed
from runner.config.schema import EvaluationStepConfig, ModelConfig, RunConfig
from runner.evaluation import judge as judging
from runner.evaluation.custom import load_function, signature_problem
from runner.evaluation.prompto_judge import load_judge_folder
from runner.evaluation.scorers import BUILTINS
from runner.prompts.records import record_problems
from runner.providers import ProviderContext, known_apis, provider_class

JUDGE = "judge"
CUSTOM = "custom"
SCORERS = (*BUILTINS, CUSTOM, JUDGE)


@dataclass
class Step:
    """A checked step: a scorer function, or a judge with its model and verdict pattern."""

    name: str
    config: EvaluationStepConfig
    fn: Callable[..., Any] | None = None
    needed: list[str] = field(default_factory=list)
    model: ModelConfig | None = None
    pattern: re.Pattern[str] | None = None


def check_step(
    name: str,
    config: EvaluationStepConfig,
    settings: RunConfig,
    env: Mapping[str, str],
) -> tuple[Step | None, list[str]]:
    """The checked step, or the problems that stop it (None when there are any)."""
    if config.scorer not in SCORERS:
        return None, [f"unknown scorer {config.scorer!r}; use one of {', '.join(SCORERS)}"]
    if config.scorer == JUDGE:
        return _check_judge(name, config, settings, env)
    if config.scorer == CUSTOM:
        if not config.function:
            return None, ["scorer 'custom' needs function: package.module.function"]
        fn, problem = load_function(config.function)
        if fn is None:
            return None, [str(problem)]
        problem = signature_problem(fn, config.params)
        return (
            (None, [f"{config.function}: {problem}"]) if problem else (Step(name, config, fn), [])
        )
    builtin = BUILTINS[config.scorer]
    problem = signature_problem(builtin.fn, config.params)
    problems = [f"scorer {config.scorer!r} {problem}"] if problem else builtin.check(config.params)
    if problems:
        return None, problems
    return Step(name, config, builtin.fn, builtin.needed_keys(config.params)), []


def _check_judge(
    name: str,
    config: EvaluationStepConfig,
    settings: RunConfig,
    env: Mapping[str, str],
) -> tuple[Step | None, list[str]]:
    problems: list[str] = []
    folder_model = None
    if config.judge_folder:
        try:
            folder_model, template = load_judge_folder(config)
        except ValueError as exc:
            return None, [f"judge_folder: {exc}"]
        config = dataclasses.replace(config, template=config.template or template)
    elif not config.model and config.model_config is None:
        problems.append(
            f"a judge needs a model (evaluation.{name}.model=NAME, or in its file's defaults "
            f"list: '- /model@{name}.model_config: NAME') or a judge_folder"
        )
    if not config.template:
        problems.append("a judge needs a template (with {INPUT_PROMPT}, {OUTPUT_RESPONSE}, ...)")
    if config.verdict not in ("score", "label"):
        problems.append(f"verdict {config.verdict!r}: use score or label")
    if config.verdict == "label" and not config.labels and not config.pattern:
        problems.append("verdict: label needs labels: [...] or a pattern")
    try:
        pattern = judging.verdict_pattern(config)
    except re.error as exc:
        problems.append(f"pattern is not a valid regular expression: {exc}")
    if config.max_queries is not None and not config.max_queries > 0:
        problems.append(f"max_queries must be positive, got {config.max_queries}")
    model = folder_model or config.model_config
    if model is None and config.model:
        problems.append(f"judge model: {not_composed(config.model, f'evaluation.{name}')}")
    if model is not None and config.template:
        # A sample judge prompt, checked as the run checks its own records (api, key, model).
        sample = judging.judge_record(name, config, model, {"prompt": "x", "response": "x"})
        found = record_problems(sample, known_apis())
        if not found:
            found = provider_class(model.api)(ProviderContext(settings, env=env)).problems(sample)
        named = config.model or (
            f"{config.judge_folder}:{config.judge}"
            if config.judge_folder
            else f"{model.api}/{model.model_name}"
        )
        problems += [f"judge model {named!r}: {p}" for p in found]
    if problems or model is None:
        return None, problems
    needed = judging.needed_keys(config.template or "")
    return Step(name, config, None, needed, model, pattern), []
