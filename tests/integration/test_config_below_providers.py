"""config sits below providers at run time too: it imports none of them, by any means.

The entry points import ``runner.providers`` before they configure; config alone says what
to import. A sweep's worker and the remembered config unpickle a composed config in a fresh
process: the pickle names the providers' settings classes, so loading it imports them.
"""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

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
