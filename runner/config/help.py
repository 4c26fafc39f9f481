"""``python -m runner --help`` and the README's settings table, built from the schema.

The settings, their order and their defaults come from the dataclasses in
:mod:`runner.config.schema`; only the one-line descriptions live here (an api block's lines
beside its provider's dataclass), and a setting without one fails the tests, so the help
cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from runner.commands import python_command
from runner.config import choices
from runner.config.apis import api_blocks, apis_class
from runner.config.schema import RunConfig

# Sections chosen as a whole by a config group (``model=NAME``), described under groups.
GROUP_FIELDS = {
    "experiment": "required: experiments/NAME.jsonl or .csv, or conf/experiment/NAME.yaml",
    "model": "conf/model/NAME.yaml: points every prompt at that model",
    "evaluation": "conf/evaluation/NAME.yaml (or '[A,B]'): scores each result, steps in order",
    "rephrase": "conf/rephrase/NAME.yaml: paraphrases an experiment (runner.rephrase)",
}

DESCRIPTIONS = {
    "experiments_dir": "where experiment files are",
    "media_dir": "where image files named in prompts are",
    "outputs_dir": "where run folders and index.duckdb go",
    "run_id": "the run folder's name; empty: UTC time plus a random suffix",
    "max_queries": "queries per minute, the default limit of every group (fractions work); "
    "unset: 10, and none for api local (no quota)",
    "max_attempts": "attempts per prompt, the first one included",
    "parallel": "group prompts by `group`, else `api`; each group runs at its own limit",
    "max_queries_dict": "per group or api: a number, or {default: n, <model_name>: n}",
    "timeout_s": "seconds per request",
    "max_concurrency": "requests in flight per group (the ceiling; 429s lower it for a while)",
    "max_tokens_per_minute": "tokens per minute (prompt + answer), the default of every group",
    "max_tokens_per_minute_dict": "per group or api, shaped like max_queries_dict",
    "output_tokens_estimate": "the answer size assumed when a prompt gives no max_tokens",
    "key_max_queries": "an API key's own limit per api, e.g. {openai: 5000}, shared by all runs",
    "shared_limits": "share limits with other runs: none, file (this machine), ray (a cluster)",
    "limits_dir": "where shared_limits=file keeps its state; null: ~/.cache/runner/limits",
    "ray_address": "the Ray cluster for shared_limits=ray; null: the current one",
    "shards": "split the experiment into N shards by prompt key (docs/scale-out.md)",
    "shard": "which shard (0..shards-1) this run sends; sweep shard=0,1,... for all",
    "cache": "response cache: on (reuse, send the rest), off, refresh (send, overwrite), only",
    "cache_ttl": "older cached answers are sent again: seconds or 30m, 12h, 7d; 0 or none: never",
    "cache_dir": "where the response cache lives; null: $RUNNER_CACHE_DIR, else ~/.cache/runner",
    "resume": "a run id, or latest: continue that run folder (done prompts are skipped)",
    "stop_timeout_s": "after the first Ctrl-C, how long requests in flight may take",
    "backoff_base_s": "retry wait: full jitter up to min(backoff_max_s, base * 2^n)",
    "backoff_max_s": "the longest retry wait (Retry-After is always honoured)",
    "max_cost_usd": (
        "the most this command may spend (USD, judges included; a sweep's jobs share it);"
        " null: no cap"
    ),
    "prices": "USD per 1M tokens by model_name or api/model_name: {input_per_mtok, ...}",
    "mode": "online, or batch: the providers' batch APIs (half price; docs/batch.md)",
    "batch_poll_s": "mode=batch: seconds between two polls of a batch",
    "batch_deadline_s": "mode=batch: cancel a batch not ended after this long; 0: never",
    "batch_fallback": "mode=batch: prompts a batch did not answer go in the next batch, or online",
    "output_schema": "a JSON Schema answers must follow: inline, a .json path, or module:Class",
    "csv": "also write results.csv in the run folder",
    "prompt_variant": "a template experiment's prompt variant to run; empty: every one",
    "limit": "run only the first N prompts (any experiment); null: all",
    "sample": "run only N prompts drawn at random (with seed); null: all",
    "seed": "the random seed of sample=N",
    "progress": "progress bars per group: auto (only on a terminal), on, off",
    "index": "bring <outputs_dir>/index.duckdb up to date after the run",
    "log_level": "the terminal's log level (run.log in the run folder is always DEBUG)",
    "max_queries_json": "prompto's -mqj file (shaped like max_queries_dict); the dict wins per key",
    "env_file": "a .env file read at start-up; variables already set win",
    "on_invalid": "stop: any invalid line stops the run; skip: send the rest, record each",
    "max_input_tokens_per_minute": "prompt tokens per minute, the default of every group",
    "max_input_tokens_per_minute_dict": "per group or api, shaped like max_queries_dict",
    "max_output_tokens_per_minute": "answer tokens per minute, the default of every group",
    "max_output_tokens_per_minute_dict": "per group or api, shaped like max_queries_dict",
    "token_accounting": "provider (as each declares), reserved (never refunded) or actual",
}


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: its dotted key, its default as written on the command line, one line."""

    key: str
    default: str
    description: str


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return MISSING  # pragma: no cover - every field of the schema has a default


def format_value(value: Any) -> str:
    """A default as it would be written in an override."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value == MISSING:
        return "(required)"
    if isinstance(value, dict | list):
        return json.dumps(value)
    if value == "":
        return '""'
    return str(value)


def _description(key: str) -> str:
    # A setting without a line still shows (tests/test_commands.py insists on every line).
    section, _, rest = key.partition(".")
    if section == "apis":  # apis.<block>.<field>: the line its provider declares
        block, _, name = rest.partition(".")
        found = api_blocks().get(block)
        return found.descriptions.get(name, "") if found else ""
    return DESCRIPTIONS.get(key, "")


def _leaves(cls: type, prefix: str) -> Iterator[Setting]:
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _leaves(typing.cast(type, tp), f"{key}.")
            continue
        yield Setting(key, format_value(_default(f)), _description(key))


def settings() -> list[Setting]:
    """Every setting of :class:`RunConfig` but the config-group sections, in schema order."""
    found: list[Setting] = []
    for f in dataclasses.fields(RunConfig):
        if f.name not in GROUP_FIELDS and f.name != "apis":
            found.append(Setting(f.name, format_value(_default(f)), _description(f.name)))
    return found + list(_leaves(apis_class(), "apis."))


def group_options(conf_dirs: Sequence[Path], experiments_dir: Path) -> dict[str, list[str]]:
    """The options of each config group: YAML files in the ``conf/`` folders, experiments."""
    options = {group: choices.group_options(group, conf_dirs) for group in GROUP_FIELDS}
    files = [p.stem for s in ("*.jsonl", "*.csv") for p in experiments_dir.glob(s)]
    options["experiment"] = sorted(set(options["experiment"]) | set(files))
    launchers = choices.group_options("hydra/launcher", conf_dirs)
    options["hydra/launcher"] = ["basic", *launchers]
    return options


def _table(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    width = max(len(left) for left, _ in rows) + 2
    return [f"{indent}{left.ljust(width)}{right}" for left, right in rows]


def help_text(conf_dirs: Sequence[Path], experiments_dir: Path) -> str:
    """The page ``python -m runner --help`` prints."""
    py = python_command()
    lines = [
        "runner: send a prompt experiment to LLM APIs, each group at its own rate limit,",
        "every result streamed to outputs/<experiment>/<run_id>/ and indexed in DuckDB.",
        "",
        "Usage:",
        f"  {py} -m runner experiment=NAME [key=value ...]",
        f"  {py} -m runner -m experiment=NAME key=A,B [...]   (a sweep: one run per value)",
        "",
        "experiment=NAME is required. Exit status: 0 all ok, 1 some prompts ended in error,",
        "2 bad input or settings (nothing sent), 130 stopped (resume=ID continues).",
        "",
        "== Settings == (key=value; the default is shown)",
    ]
    lines += _table([(f"{s.key}={s.default}", s.description) for s in settings()])
    lines += ["", "== Configuration groups == (group=option)"]
    options = group_options(conf_dirs, experiments_dir)
    described = {**GROUP_FIELDS, "hydra/launcher": "where a sweep's jobs run (with -m)"}
    for group, about in described.items():
        lines += [f"  {group}=NAME  {about}", f"      {', '.join(options[group]) or '(none)'}"]
    lines += [
        "",
        "== Examples ==",
        f"  {py} -m runner experiment=demo",
        f"  {py} -m runner experiment=demo model=gpt_4o_mini max_queries=60 evaluation=includes",
        f"  {py} -m runner -m experiment=demo model=gpt_4o_mini,gemma_local parallel=true",
        "",
        f"Other commands (each with --help): {py} -m runner.check, runner.evaluate,",
        "runner.rephrase, runner.index, runner.query.",
        "Hydra's flags work too: --cfg job (the composed config), --hydra-help, -m.",
    ]
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """The README's settings table."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    cells = [(f"`{s.key}`", f"`{s.default}`", s.description) for s in settings()]
    cells += [(f"`{name}=NAME`", "none", about) for name, about in GROUP_FIELDS.items()]
    for key, default, meaning in cells:
        rows.append(f"| {key} | {default} | {meaning.replace('|', '/')} |")
    return "\n".join(rows) + "\n"
