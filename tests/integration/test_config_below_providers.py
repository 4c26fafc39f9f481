"""config sits below providers at run time too: it imports none of them, by any means.

The entry points import ``runner.providers`` before they configure; config alone says what
to import. A sweep's worker and the remembered config unpickle a composed config in a fresh
process: the pickle names the providers' settings classes, so loading it imports them.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from runner.config.schema import RunConfig
from tests.helpers import ROOT

_CONFIG_ALONE = """
import sys
import runner.config, runner.config.compose, runner.config.help, runner.config.run_mode
from runner.config.apis import api_blocks
try:
    api_blocks()
except RuntimeError as exc:
    print(exc)
print("providers imported:", "runner.providers" in sys.modules)
"""

_UNPICKLED = """
import pickle, sys
from omegaconf import OmegaConf
cfg = pickle.loads(sys.stdin.buffer.read())
from runner.config.apis import api_blocks
print(OmegaConf.to_object(cfg.apis).openai.endpoint, ",".join(api_blocks()))
"""


def _python(code: str, stdin: bytes = b"") -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], input=stdin, cwd=ROOT, capture_output=True, check=True
    )
    return done.stdout.decode()


def test_config_imports_no_provider_and_says_what_to_import() -> None:
    said = _python(_CONFIG_ALONE)
    assert "import runner.providers before configuring" in said
    assert "providers imported: False" in said


def test_a_pickled_config_loads_in_a_fresh_process() -> None:
    data = pickle.dumps(OmegaConf.structured(RunConfig), protocol=pickle.HIGHEST_PROTOCOL)
    endpoint, blocks = _python(_UNPICKLED, data).split()
    assert endpoint == "chat"
    assert blocks.split(",") == [f.name for f in dataclasses.fields(RunConfig().apis)]


_COMMANDS = {
    "runner": ["-m", "runner", "experiment=demo"],
    "check": ["-m", "runner.check", "experiment=demo"],
    "expand": ["-m", "runner.expand", "experiment=demo", "out=x.jsonl"],
    "rephrase": ["-m", "runner.rephrase", "experiment=demo", "rephrase=paraphrase"],
    "evaluate": ["-m", "runner.evaluate", "run=file:done.jsonl", "evaluation=match"],
    "api": ["-c", "import runner; runner.run_experiment('demo', ['apis.openai.endpont=x'])"],
}


@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_every_entry_point_checks_keys_against_the_providers_blocks(
    command: str, tmp_path: Path
) -> None:
    """Each command, in a process of its own, knows the blocks: a misspelled key is named."""
    line = {"id": "a", "status": "ok", "prompt": "p", "response": "r", "api": "openai"}
    (tmp_path / "done.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    argv = [sys.executable, *_COMMANDS[command]]
    if command != "api":
        argv.append("apis.openai.endpont=x")
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode in (1, 2), done.stderr[-2000:]
    assert "did you mean apis.openai.endpoint?" in done.stderr, done.stderr[-2000:]
