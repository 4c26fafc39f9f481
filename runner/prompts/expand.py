"""A template experiment, expanded: data rows x prompt variants x models x repeats.

The expansion is a generator of :class:`PromptRecord`, fed to the same plan as a prompto
file's records (runner.prompts.plan), so memory stays bounded whatever the product's size:
one row is held at a time. Every record gets a stable key, ``<row id>[@<variant>][@<model>]
[#<repeat>]``, and a line: its position in the expansion, the same on every read of the
same experiment, so resume's bitmap of done lines, the cache and the index work as for a
file. The experiment itself (templates, models, parameters, repeats, and the data's
SHA-256) is written to a small JSON spec: the run's input file, which resume compares.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from runner.config.schema import ModelConfig, RunConfig
from runner.config.search_path import config_dirs, user_config_dirs
from runner.errors import BadInputError, ConfigError
from runner.hashing import file_sha256
from runner.paths import runner_cache_home
from runner.prompts.data import data_path, iter_rows
from runner.prompts.records import PromptRecord

if TYPE_CHECKING:
    from runner.prompts.template import Template

# Structural keys of a record: a data column of the same name is kept as ``input_<name>``.
_RESERVED = ("prompt", "api", "model_name", "parameters", "prompt_variant", "repeat", "row_id")
SPEC_SUFFIX = ".template.json"


@dataclass(frozen=True)
class ModelChoice:
    """A model prompts are sent to: its API, its name there, its parameters."""

    api: str
    model_name: str
    parameters: dict[str, Any] = field(default_factory=dict)


def is_template(settings: RunConfig) -> bool:
    """Whether the experiment is a template over data (not a prompto file)."""
    return settings.experiment.data is not None or settings.experiment.prompt is not None


def _dirs(settings: RunConfig) -> list[Path]:
    from runner.config.setup import CONF_DIR

    experiments = Path(settings.experiments_dir)
    return config_dirs(user_config_dirs(experiments, CONF_DIR), CONF_DIR)


def _load_model(name: str, dirs: list[Path]) -> ModelChoice:
    found = [d / "model" / f"{name}.yaml" for d in dirs if (d / "model" / f"{name}.yaml").is_file()]
    if not found:
        raise ConfigError(
            f"experiment.models: no model {name!r} (looked for model/{name}.yaml in "
            f"{', '.join(str(d) for d in dirs)})"
        )
    node = OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.load(found[0]))
    model = OmegaConf.to_object(node)
    assert isinstance(model, ModelConfig)
    return ModelChoice(model.api, model.model_name, dict(model.parameters))


def experiment_source(settings: RunConfig) -> Path | None:
    """The experiment's YAML (for the line of a template's syntax error), when found."""
    name = settings.experiment.name
    for d in _dirs(settings):
        path = d / "experiment" / f"{name}.yaml"
        if path.is_file():
            return path
    return None


@dataclass
class Expansion:
    """Everything a template experiment expands from, checked; nothing read from data yet."""

    name: str
    data: Any
    base: Path
    templates: list[Template]
    models: list[ModelChoice]
    parameters: dict[str, Any]
    repeats: int

    @classmethod
    def of(cls, settings: RunConfig) -> Expansion:
        """The expansion the settings declare.

        Raises:
            BadInputError: bad template syntax, an unknown variant.
            ConfigError: no model chosen, or a model with no YAML.
        """
        from runner.prompts.template import compile_prompt  # jinja2: template runs only

        exp = settings.experiment
        if settings.model is not None:
            m = settings.model
            models = [ModelChoice(m.api, m.model_name, dict(m.parameters))]
        elif exp.models:
            dirs = _dirs(settings)
            models = [_load_model(name, dirs) for name in exp.models]
        else:
            raise ConfigError(
                f"experiment {exp.name}: a template experiment needs models: [NAME, ...] "
                "(conf/model/NAME.yaml) or model=NAME"
            )
        source = experiment_source(settings)
        templates = compile_prompt(exp.prompt, settings.prompt_variant, source)
        return cls(
            exp.name,
            exp.data,
            Path(settings.experiments_dir),
            templates,
            models,
            dict(exp.parameters),
            exp.repeats,
        )

    def _key(self, row_id: str, template: Template, model: ModelChoice, repeat: int) -> str:
        key = row_id
        if template.variant:
            key += f"@{template.variant}"
        if len(self.models) > 1:
            key += f"@{model.model_name}"
        if self.repeats > 1:
            key += f"#{repeat}"
        return key

    def records(self) -> Iterator[PromptRecord]:
        """Every expanded prompt, in a fixed order, one data row held at a time.

        Raises:
            BadInputError: a bad data row, or a row lacking a template's column.
        """
        line = 0
        source = f"experiment {self.name}"
        for row in iter_rows(self.data, self.base):
            # The row's id is its row_id; other columns named like a record's keys are renamed.
            columns = {
                (f"input_{k}" if k in _RESERVED else k): v
                for k, v in row.columns.items()
                if k != "id"
            }
            where = self._where(row.line)
            for template in self.templates:
                prompt = template.render(row.columns, where)
                for model in self.models:
                    parameters = {**model.parameters, **self.parameters}
                    for repeat in range(self.repeats):
                        line += 1
                        data = {
                            **columns,
                            "id": self._key(row.row_id, template, model, repeat),
                            "row_id": row.row_id,
                            "prompt": prompt,
                            "api": model.api,
                            "model_name": model.model_name,
                            "parameters": dict(parameters),
                        }
                        if template.variant:
                            data["prompt_variant"] = template.variant
                        if self.repeats > 1:
                            data["repeat"] = repeat
                        yield PromptRecord(data, source, line)

    def _where(self, line: int) -> str:
        if isinstance(self.data, list):
            return f"experiment.data[{line - 1}]"
        path = data_path(str(self.data), self.base)
        return f"{path}:{line}" if path.suffix != ".parquet" else f"{path}:row {line}"

    def spec(self) -> dict[str, Any]:
        """What the expansion depends on, the data by its SHA-256: equal specs, equal prompts."""
        data: Any = self.data
        if isinstance(data, str):
            path = data_path(data, self.base)
            try:
                data = {"file": data, "sha256": file_sha256(path)}
            except OSError:
                raise BadInputError(
                    f"{path}: no such data file; check experiments_dir and data"
                ) from None
        return {
            "experiment": self.name,
            "data": data,
            "variants": [t.variant for t in self.templates],
            "models": [m.__dict__ for m in self.models],
            "parameters": self.parameters,
            "repeats": self.repeats,
        }


def write_spec(expansion: Expansion, prompt: Any) -> Path:
    """Write the expansion's spec where a run can copy it as its input; its path.

    The file is named by its content's hash, so the same experiment maps to the same file
    and a changed one to another (resume then refuses it, as for a changed prompto file).
    """
    spec = expansion.spec()
    spec["prompt"] = prompt
    text = json.dumps(spec, sort_keys=True, ensure_ascii=False, indent=1, default=str) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    # The user's own cache, not a shared temp folder another user could have made first.
    folder = runner_cache_home() / "experiment-specs" / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{expansion.name}{SPEC_SUFFIX}"
    if not path.is_file():
        # Sweep jobs in parallel may write the same spec: each its own partial file.
        partial = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial"
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    return path
