"""Judge and rephrase models chosen by name, resolved when the config is composed.

A judge step (``evaluation.<step>.model: NAME``) and a rephrasing (``rephrase.model: NAME``)
choose a model the way a run does with ``model=NAME``: ``conf/model/NAME.yaml``, looked up
in the user's own ``conf/`` (inside or beside the experiments folder) before the project's.
Composing puts the typed model under ``model_config``, so nothing below the command line
looks for config folders.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from runner.config.schema import ModelConfig
from runner.errors import ConfigError


def model_dirs(conf_dir: Path, experiments_dir: str | Path | None = None) -> list[Path]:
    """Where models are looked up: the user's own config folders first.

    A ``conf/`` inside or beside the experiments folder, then ``conf_dir`` (the project's).
    """
    found: list[Path] = []
    if experiments_dir is not None:
        experiments = Path(experiments_dir).expanduser().resolve()
        found += [experiments / "conf", experiments.parent / "conf"]
    found.append(conf_dir)
    return list(dict.fromkeys(p for p in found if (p / "model").is_dir() or p == conf_dir))


def load_model(name: str, dirs: list[Path]) -> ModelConfig:
    """The model ``<conf>/model/<name>.yaml`` of the first folder that has it, checked.

    Raises:
        FileNotFoundError: there is no such model file.
        ValueError: the file does not follow the schema.
    """
    candidates = [d / "model" / f"{name}.yaml" for d in dirs]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        known = sorted({p.stem for d in dirs for p in (d / "model").glob("*.yaml")})
        looked = ", ".join(str(p) for p in candidates)
        raise FileNotFoundError(
            f"no model {name!r} (looked for {looked}); known: {', '.join(known)}"
        )
    try:
        merged = OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.load(path))
        model = OmegaConf.to_object(merged)
    except Exception as exc:  # OmegaConf raises several unrelated types for a bad file
        raise ValueError(f"model {name!r} ({path}) is not a valid model config: {exc}") from None
    assert isinstance(model, ModelConfig)
    return model


def _resolve(node: DictConfig, where: str, dirs: list[Path]) -> None:
    # A name wins over a model_config kept from before (a resumed run's own config):
    # model_config is given inline only without a name.
    if OmegaConf.is_missing(node, "model") or not node.get("model"):
        return
    try:
        node.model_config = OmegaConf.structured(load_model(str(node.model), dirs))
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"{where}.model: {exc}") from None


def resolve_models(cfg: DictConfig, conf_dir: Path) -> DictConfig:
    """``cfg`` with each judge's and the rephraser's ``model_config`` filled in.

    Raises:
        ConfigError: a model named that no config folder has, or one that is not valid.
    """
    if not OmegaConf.is_missing(cfg, "experiments_dir"):
        dirs = model_dirs(conf_dir, str(cfg.experiments_dir))
    else:  # pragma: no cover - the schema gives a default
        dirs = [conf_dir]
    for name, step in (cfg.get("evaluation") or {}).items():
        _resolve(step, f"evaluation.{name}", dirs)
    if cfg.get("rephrase") is not None:
        _resolve(cfg.rephrase, "rephrase", dirs)
    return cfg


def chosen_model(name: str, given: ModelConfig | None, experiments_dir: str) -> ModelConfig:
    """The model a step holds; for settings built in Python (not composed), looked up by name.

    Raises:
        FileNotFoundError: there is no such model file.
        ValueError: the file does not follow the schema.
    """
    if given is not None:
        return given
    from runner.config.setup import CONF_DIR

    return load_model(name, model_dirs(CONF_DIR, experiments_dir))
