"""Typed schemas of the configuration, registered in Hydra's ConfigStore.

These dataclasses are the only description of the settings: YAML under ``conf/`` is checked
against them when Hydra composes, so a misspelled key or a value of the wrong type fails
before anything runs. Code below the command line sees :class:`runner.config.Settings`,
never a ``DictConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from runner.config.apis import ApisConfig as ApisConfig  # the type of RunConfig.apis
from runner.config.apis import defaults_node, new_apis


@dataclass
class ExperimentConfig:
    """Which experiment to run: a prompto file, or a template over data (docs/experiments.md).

    ``file`` is a path relative to ``experiments_dir`` (or absolute). ``name`` names the
    output folder; empty means the file name without its extension. Instead of ``file``, a
    template experiment gives ``data`` and ``prompt`` (and ``models``, ``parameters``,
    ``repeats``), expanded as it is read (runner.prompts.expand).
    """

    file: str = ""
    name: str = ""
    # A JSONL, CSV or Parquet file (relative to experiments_dir), or a list of rows inline.
    data: Any = None
    # A Jinja2 template, a list of {role, content} templates, or a dict of named variants.
    prompt: Any = None
    models: list[str] = field(default_factory=list)  # names of conf/model/*.yaml
    parameters: dict[str, Any] = field(default_factory=dict)
    repeats: int = 1  # each prompt sent this many times, each its own result line


@dataclass
class PriceConfig:
    """A model's price in USD per million tokens (over genai-prices' data; see docs/cost.md)."""

    input_per_mtok: float | None = None
    output_per_mtok: float | None = None
    # Batch mode; None: half the online price (what the providers' batch APIs charge).
    batch_input_per_mtok: float | None = None
    batch_output_per_mtok: float | None = None
    # Prompt-cache reads and writes; None: the input price.
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None


@dataclass
class ModelConfig:
    """One model: choosing it fills ``api`` and ``model_name`` for every prompt."""

    api: str = MISSING
    model_name: str = MISSING
    parameters: dict[str, Any] = field(default_factory=dict)
    # Queries per minute for this model; None means the group's limit applies.
    max_queries: float | None = None
    # Its price, over genai-prices' own; None: genai-prices' price (or unknown).
    price: PriceConfig | None = None
    # online | batch for this model's prompts; None means the run's ``mode``.
    mode: str | None = None
    # openai / azure-openai: chat | responses (the Responses API); None: the api block's.
    endpoint: str | None = None
    # A JSON Schema its answers must follow (over the run's): see the run's output_schema.
    output_schema: Any = None


@dataclass
class EvaluationStepConfig:
    """One step of an evaluation pipeline (``conf/evaluation/*.yaml``); see docs/evaluation.md.

    The step's name is its key under ``evaluation``; steps run in the order they are listed.
    """

    # exact_match | includes | regex | json | numeric | length | custom | judge
    scorer: str = MISSING
    # custom: the function's dotted path, ``package.module.function``.
    function: str | None = None
    # The scorer's parameters (for custom, keyword arguments of the function).
    params: dict[str, Any] = field(default_factory=dict)
    # judge: its model, the prompt template, and how to read the verdict. The step's file
    # chooses the model in its defaults list (``- /model@<step>.model_config: NAME``), so
    # Hydra composes conf/model/NAME.yaml here; ``model`` is then set to NAME.
    model: str | None = None
    model_config: ModelConfig | None = None
    template: str | None = None
    verdict: str = "score"  # score (a number) | label (one of labels)
    labels: list[str] = field(default_factory=list)
    pattern: str | None = None  # a regex; its group "verdict" (else group 1) is the verdict
    parameters: dict[str, Any] = field(default_factory=dict)  # over the judge model's own
    max_queries: float | None = None  # the judge group's limit; default: the model's, else run's
    # judge: or a prompto judge folder (settings.json + template file) and a judge in it.
    judge_folder: str | None = None
    judge: str | None = None
    template_file: str = "template.txt"


@dataclass
class RephraseConfig:
    """Paraphrasing an experiment before it runs (``conf/rephrase/*.yaml``)."""

    # The model that writes the paraphrases, chosen in the file's defaults list
    # (``- /model@model_config: NAME``); ``model`` is then set to NAME.
    model: str | None = None
    model_config: ModelConfig | None = None
    # Template name -> template with {INPUT_PROMPT}; the name tags each paraphrase.
    templates: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    max_queries: float | None = None
    split_lines: bool = False  # one paraphrase per non-empty line of each answer
    suffix: str = "-rephrased"  # written to experiments/<name><suffix>.jsonl


@dataclass
class RunConfig:
    """The whole configuration of one run."""

    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    model: ModelConfig | None = None
    # Step name -> step; evaluation=NAME (or [A,B]) picks conf/evaluation/NAME.yaml.
    evaluation: dict[str, EvaluationStepConfig] = field(default_factory=dict)
    rephrase: RephraseConfig | None = None
    # One block per provider, each declared by its module (runner.config.apis).
    apis: ApisConfig = field(default_factory=new_apis)

    experiments_dir: str = "experiments"
    # Images named in prompts ({"type": "image", "media": "pic.png"}) are read from here.
    media_dir: str = "media"
    outputs_dir: str = "outputs"
    # Empty: a new id (UTC time plus a random suffix) is made for every run.
    run_id: str = ""

    # Per minute, the default limit of every group; None: 10, and no limit for an api
    # without a quota (local).
    max_queries: float | None = None
    max_attempts: int = 3
    parallel: bool = False
    # A group (or api) -> a number, or {"default": n, "<model_name>": n, ...}.
    max_queries_dict: dict[str, Any] = field(default_factory=dict)
    # prompto's -mqj file: a JSON object shaped like max_queries_dict (its keys win below it).
    max_queries_json: str | None = None
    # Read at start-up for variables not already set (python-dotenv), as prompto does.
    env_file: str = ".env"
    # A record the check refuses: stop (exit 2, nothing sent) or skip (send the valid ones;
    # each invalid line gets an error result line with error_kind "invalid").
    on_invalid: str = "stop"
    timeout_s: float = 120.0
    max_concurrency: int = 16
    # Tokens per minute (prompt + answer), the default for every group; None: no token limit.
    max_tokens_per_minute: float | None = None
    # Like max_queries_dict, for tokens: a group (or api) -> n, or {"default": n, model: n}.
    max_tokens_per_minute_dict: dict[str, Any] = field(default_factory=dict)
    # Input (prompt) and output (answer) token limits per minute, shaped the same way.
    max_input_tokens_per_minute: float | None = None
    max_input_tokens_per_minute_dict: dict[str, Any] = field(default_factory=dict)
    max_output_tokens_per_minute: float | None = None
    max_output_tokens_per_minute_dict: dict[str, Any] = field(default_factory=dict)
    # How token limits are charged: provider (what each provider declares), reserved (the
    # estimate is charged and never refunded: OpenAI's TPM), or actual (the estimate is
    # corrected by the usage the API reports). See docs/architecture.md.
    token_accounting: str = "provider"
    # The answer's size assumed before sending when a prompt gives no max_tokens.
    output_tokens_estimate: int = 256
    # An API key's own limit, per api (queries per minute): every group sending with the key
    # (in this run and in others at once) shares it, whatever its group limits say.
    key_max_queries: dict[str, Any] = field(default_factory=dict)

    # Limits shared with other runs using the same credentials: none (this process only),
    # file (every process on this machine), or ray (every machine of a Ray cluster).
    shared_limits: str = "file"
    limits_dir: str | None = None  # for shared_limits=file; default ~/.cache/runner/limits
    ray_address: str | None = None  # for shared_limits=ray; default: the current cluster

    # One experiment split across workers (docs/scale-out.md): shard K of N takes the prompts
    # whose key hashes to K, into its own folder <run id>.shard<K>of<N>. Sweep shard=0,...,N-1.
    shards: int = 1
    shard: int | None = None

    # The response cache (docs/cache.md): on (answer what was answered before, send the
    # rest), off, refresh (send everything, overwrite), only (send nothing; misses are errors).
    cache: str = "off"
    cache_ttl: str = "none"  # seconds or 90s/30m/12h/7d/2w; 0 or none: entries never expire
    cache_dir: str | None = None  # default $RUNNER_CACHE_DIR, else ~/.cache/runner

    # Continue a run folder: a run id, or "latest". Done prompts are skipped.
    resume: str = ""
    # After the first Ctrl-C / SIGTERM, how long requests in flight may take to finish.
    stop_timeout_s: float = 30.0

    # Backoff between attempts: full jitter up to min(backoff_max_s, backoff_base_s * 2**n).
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0

    # Cost: the most this invocation may spend, in USD (judges included); None: no cap.
    max_cost_usd: float | None = None
    # Prices of models named by the prompts themselves ("model_name" or "api/model_name"
    # -> price); a chosen model's own price goes in its conf/model/*.yaml (price:).
    prices: dict[str, PriceConfig] = field(default_factory=dict)
    # Batch mode: online (one request per prompt) or batch (the providers' batch APIs: half
    # price, answers within a day; see docs/batch.md). A model's own ``mode`` wins.
    mode: str = "online"
    batch_poll_s: float = 30.0  # seconds between two polls of a batch
    # Cancel a batch not ended this many seconds after its submit (0: the provider's window).
    batch_deadline_s: float = 0.0
    # What prompts a batch did not answer do: batch (go in the next batch) or online.
    batch_fallback: str = "batch"

    # Structured output: a JSON Schema every answer must follow (inline, a .json path, or a
    # pydantic model package.module:Class); a record's own output_schema wins, then the
    # model's. Invalid answers are asked again up to max_attempts (README: Structured output).
    output_schema: Any = None

    csv: bool = False  # also write results.csv in the run folder
    # A template experiment's variant to run (one of its prompt's names); empty: all.
    prompt_variant: str = ""
    # Run only the first N prompts (limit) or N drawn at random with ``seed`` (sample).
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    progress: str = "auto"  # auto (only on a terminal) | on | off
    index: bool = True  # bring <outputs_dir>/index.duckdb up to date after the run
    log_level: str = "INFO"


def register_configs() -> None:
    """Register the schemas so YAML files in ``conf/`` are validated against them."""
    cs = ConfigStore.instance()
    schema = OmegaConf.structured(RunConfig)
    # Limits are free-form maps: let `max_queries_dict={openai: 30}` add keys on the command
    # line (a struct node would only accept keys it already has).
    OmegaConf.set_struct(schema.max_queries_dict, False)
    OmegaConf.set_struct(schema.max_tokens_per_minute_dict, False)
    OmegaConf.set_struct(schema.max_input_tokens_per_minute_dict, False)
    OmegaConf.set_struct(schema.max_output_tokens_per_minute_dict, False)
    OmegaConf.set_struct(schema.key_max_queries, False)
    OmegaConf.set_struct(schema.prices, False)
    cs.store(name="run_schema", node=schema)
    # conf/config.yaml lists this node: it reads conf/api/<name>.yaml into apis.<name>.
    cs.store(name="api_blocks", node=defaults_node())
    cs.store(group="model", name="model_schema", node=ModelConfig, package="model")
    cs.store(group="rephrase", name="rephrase_schema", node=RephraseConfig, package="rephrase")
