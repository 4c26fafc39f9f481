"""prompto's judge folders: ``settings.json`` (judges by name) and ``template.txt``.

A judge step may name one instead of a ``conf/model`` file and an inline template::

    harmful:
      scorer: judge
      judge_folder: judge          # relative to the current folder, or absolute
      judge: gpt-4o                # a key of settings.json: {"api", "model_name", "parameters"}
      template_file: template.txt  # the default; {INPUT_PROMPT} and {OUTPUT_RESPONSE}
      verdict: label
      labels: [yes, no]
"""

from __future__ import annotations

import json
from pathlib import Path

from runner.config.schema import EvaluationStepConfig, ModelConfig


def load_judge_folder(config: EvaluationStepConfig) -> tuple[ModelConfig, str]:
    """The judge model and template a step's prompto judge folder names.

    Raises:
        ValueError: the folder, its settings.json entry or its template is missing or wrong.
    """
    folder = Path(str(config.judge_folder)).expanduser()
    settings_path = folder / "settings.json"
    try:
        judges = json.loads(settings_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {settings_path} ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{settings_path}: not valid JSON ({exc.msg})") from None
    if not isinstance(judges, dict):
        raise ValueError(f"{settings_path}: must be an object of judges by name")
    if not config.judge or config.judge not in judges:
        known = ", ".join(sorted(map(str, judges)))
        raise ValueError(f"{settings_path}: judge {config.judge!r} not found; known: {known}")
    entry = judges[config.judge]
    if not isinstance(entry, dict) or not entry.get("api") or not entry.get("model_name"):
        raise ValueError(f"{settings_path}: judge {config.judge!r} needs api and model_name")
    parameters = entry.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ValueError(f"{settings_path}: judge {config.judge!r}: parameters must be an object")
    template_path = folder / config.template_file
    try:
        template = template_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {template_path} ({exc.strerror})") from None
    model = ModelConfig(
        api=str(entry["api"]), model_name=str(entry["model_name"]), parameters=parameters
    )
    return model, template
