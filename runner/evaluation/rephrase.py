"""Rephrasing, as prompto offers: paraphrase each prompt, then run originals and paraphrases.

:func:`rephrase_experiment` asks a model (``rephrase.model``, a ``conf/model/*.yaml``) for a
paraphrase of every string prompt with every template (a template experiment's expanded
prompts, as a run expands them), and writes a new experiment file
``<experiments_dir>/<name><suffix>.jsonl``: each original followed by its paraphrases. Every
record carries ``rephrase_of`` (the original's prompt key) and ``rephrase_template``
(``original`` or the template's name), so SQL can compare them after the run.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from runner.config.models import not_composed
from runner.config.schema import RephraseConfig, RunConfig
from runner.config.settings import resolve_path
from runner.cost.estimate import check_budget_priced
from runner.cost.spending import Spending
from runner.engine.session import engine_session
from runner.errors import BadInputError, ConfigError
from runner.evaluation.judge import needed_keys, render
from runner.limits.clock import Clock, SystemClock
from runner.limits.from_settings import request_rate
from runner.output.results import Outcome
from runner.prompts.expand import Expansion, is_template
from runner.prompts.grouping import Group, Tagged, default_max_queries
from runner.prompts.reader import read_records
from runner.prompts.records import PromptRecord, record_problems
from runner.prompts.select import selection
from runner.providers import ProviderContext, known_apis, provider_class

ORIGINAL = "original"


@dataclass
class RephraseResult:
    """The written experiment, and how many paraphrase requests failed."""

    path: Path
    originals: int
    paraphrases: int
    failed: int
    budget: str = ""  # what the requests spent, against max_cost_usd
    spent_usd: float = 0.0


def _clean(text: str) -> str:
    text = text.strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def _requests(
    cfg: RephraseConfig, records: list[PromptRecord], api: str, model_name: str, params: Any
) -> list[tuple[PromptRecord, PromptRecord, str]]:
    """(request, original, template name) for every string prompt and template."""
    out = []
    for record in records:
        if not isinstance(record.prompt, str):
            continue  # conversations and chats keep their form: only originals are run
        for name, template in cfg.templates.items():
            data = {
                "id": f"{record.key}:{name}",
                "api": api,
                "model_name": model_name,
                "prompt": render(template, record.data),
                "parameters": params,
            }
            out.append((PromptRecord(data, record.source, record.line), record, name))
    return out


def _originals(settings: RunConfig) -> tuple[Path, list[PromptRecord]]:
    """The experiment's prompts: a file's records, or a template's expanded prompts."""
    if not is_template(settings):
        input_file = resolve_path(Path(settings.experiments_dir), settings.experiment.file)
        return input_file, read_records(input_file)
    # A template expands as a run would (limit, sample and prompt_variant apply): its
    # paraphrases are written as a prompto file, each line carrying its row_id and variant.
    records = Expansion.of(settings).records()
    chosen = selection(settings.limit, settings.sample, settings.seed)
    found = list(chosen(records) if chosen is not None else records)
    return Path(settings.experiments_dir) / f"{settings.experiment.name}.jsonl", found


def rephrase_experiment(
    settings: RunConfig,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> RephraseResult:
    """Write ``<experiments_dir>/<name><suffix>.jsonl``: originals plus their paraphrases.

    Raises:
        BadInputError: no rephrase config, a missing model, a template key records lack.
    """
    cfg = settings.rephrase
    if cfg is None:
        raise ConfigError("No rephrasing chosen: pass rephrase=NAME (conf/rephrase/NAME.yaml)")
    env = os.environ if env is None else env
    input_file, records = _originals(settings)
    problems: list[str] = []
    if not cfg.templates:
        problems.append("rephrase.templates is empty: give {name: template with {INPUT_PROMPT}}")
    for name, template in cfg.templates.items():
        for key in needed_keys(template):
            lacking = [r.where for r in records if key not in r.data]
            if lacking:
                problems.append(f"template {name!r} reads {key!r}, which {lacking[0]} lacks")
    model = cfg.model_config
    if model is None:
        raise BadInputError(f"rephrase model: {not_composed(cfg.model, 'rephrase')}")
    params = {**model.parameters, **cfg.parameters}
    requests = _requests(cfg, records, model.api, model.model_name, params)
    context = ProviderContext(settings, env=env)
    if requests:
        found = record_problems(requests[0][0], known_apis())
        if not found:
            found = provider_class(model.api)(context).problems(requests[0][0])
        problems += [f"rephrase model {cfg.model!r}: {p}" for p in found]
    if problems:
        raise BadInputError(f"{len(problems)} problem(s) in rephrase; nothing was sent:", problems)
    check_budget_priced(settings, [(model.api, model.model_name)])
    rate = request_rate(
        step=cfg.max_queries,
        model=model.max_queries,
        run=settings.max_queries,
        default=lambda: default_max_queries(model.api),
    )
    answers: dict[int, str] = {}
    spending = Spending.for_run(settings)
    failed = asyncio.run(
        _send(settings, context, requests, rate, answers, clock or SystemClock(), spending)
    )
    result = _write(settings, cfg, input_file, records, requests, answers, failed)
    result.budget = spending.budget.describe()
    result.spent_usd = spending.budget.spent_usd
    return result


async def _send(
    settings: RunConfig,
    context: ProviderContext,
    requests: list[tuple[PromptRecord, PromptRecord, str]],
    rate: float,
    answers: dict[int, str],
    clock: Clock,
    spending: Spending,
) -> int:
    """Send the paraphrase requests; answers are keyed by each request's index."""
    failed = 0

    def sink(outcome: Outcome) -> None:
        nonlocal failed
        completion = outcome.completion
        if completion is None or outcome.error is not None:
            failed += 1
            logger.warning("{}: no paraphrase: {}", outcome.record.data["id"], outcome.error)
            return
        text = completion.text if isinstance(completion.text, str) else completion.text[-1]
        answers[outcome.tag] = text

    if not requests:
        return 0
    tagged = [Tagged(request, i) for i, (request, _, _) in enumerate(requests)]
    apis = [requests[0][0].api]
    async with engine_session(
        context,
        sink,
        apis=apis,
        clock=clock,
        observers=[spending.tally],
        budget=spending.budget,
        prices=spending.prices,
    ) as engine:
        await engine.run({"rephrase": Group("rephrase", rate, tagged)})
    return failed


def _write(
    settings: RunConfig,
    cfg: RephraseConfig,
    input_file: Path,
    records: list[PromptRecord],
    requests: list[tuple[PromptRecord, PromptRecord, str]],
    answers: dict[int, str],
    failed: int,
) -> RephraseResult:
    per_original: dict[int, list[dict[str, Any]]] = {}
    for i, (_request, original, name) in enumerate(requests):
        text = answers.get(i)
        if text is None:
            continue
        pieces = [t for t in text.splitlines() if t.strip()] if cfg.split_lines else [text]
        pieces = [p for p in map(_clean, pieces) if p]
        for i, piece in enumerate(pieces):
            suffix = f"-{i + 1}" if cfg.split_lines else ""
            data = {
                **original.data,
                "id": f"{original.key}-{name}{suffix}",
                "prompt": piece,
                "rephrase_of": original.key,
                "rephrase_template": name,
            }
            per_original.setdefault(id(original), []).append(data)
    stem = settings.experiment.name or input_file.stem
    out = Path(settings.experiments_dir) / f"{stem}{cfg.suffix}.jsonl"
    tmp = out.with_suffix(".jsonl.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)  # a template's data may be inline
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            first = {**record.data, "rephrase_of": record.key, "rephrase_template": ORIGINAL}
            first.setdefault("id", record.key)
            for data in [first, *per_original.get(id(record), [])]:
                handle.write(json.dumps(data, ensure_ascii=False) + "\n")
            count += len(per_original.get(id(record), []))
    os.replace(tmp, out)
    return RephraseResult(out, len(records), count, failed)
