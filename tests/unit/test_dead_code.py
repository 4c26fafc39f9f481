"""runner holds no dead code: vulture finds nothing in runner/ that nothing uses.

Read with tests/ and bench/ beside it (a name only a test uses is used). The names below are
used where vulture cannot see it; each says how.
"""

from __future__ import annotations

from pathlib import Path

import pytest

vulture = pytest.importorskip("vulture")

ROOT = Path(__file__).resolve().parents[2]

USED_UNSEEN = {
    # Module __getattr__: Python calls it for a lazy attribute of the package.
    ("runner/__init__.py", "__getattr__"),
    # Registered by their decorator (the registry finds them by api name).
    ("runner/batch/azure_openai.py", "AzureOpenAIBatches"),
    ("runner/providers/huggingface_tgi.py", "HuggingfaceTgiProvider"),
    ("runner/providers/local.py", "LocalProvider"),
    ("runner/providers/ollama.py", "OllamaProvider"),
    ("runner/providers/vertexai.py", "VertexAIProvider"),
    # A settings block Hydra composes (apis.huggingface_tgi).
    ("runner/config/schema.py", "huggingface_tgi"),
    # Hydra's launchers call a job's callbacks (hydra.core.utils.run_job).
    ("runner/config/run_mode.py", "on_job_start"),
    ("runner/config/run_mode.py", "on_job_end"),
    # The apis schema made from the providers' blocks: found by name (pickle, copy) through
    # the module's __getattr__.
    ("runner/config/apis.py", "__module__"),
    ("runner/config/apis.py", "__getattr__"),
    # Hydra's SearchPathPlugin hook.
    ("runner/config/search_path.py", "manipulate_search_path"),
    # __exit__'s signature.
    ("runner/output/progress.py", "exc_type"),
    ("runner/output/writer.py", "exc_type"),
    # Read by report.html.j2.
    ("runner/report/data.py", "error_examples"),
    ("runner/report/render.py", "input_hash"),
    ("runner/report/data.py", "lowest"),
    # Read by the viewer's matrix.html.j2 (the compare view's column cards).
    ("runner/view/compare.py", "scored"),
    ("runner/view/compare.py", "p90"),
    ("runner/view/compare.py", "error_rate"),
    # Unused; in runner/report/, which another change is editing: remove with it.
    ("runner/report/scores.py", "MAX_DISTINCT"),
}


def test_nothing_in_runner_is_unused() -> None:
    finder = vulture.Vulture()
    finder.scavenge([str(ROOT / "runner"), str(ROOT / "tests"), str(ROOT / "bench")])
    found = []
    for item in finder.get_unused_code(min_confidence=60):
        path = Path(item.filename).resolve().relative_to(ROOT).as_posix()
        if path.startswith("runner/") and (path, item.name) not in USED_UNSEEN:
            found.append(item.get_report())
    assert not found, "unused code (delete it, or say in USED_UNSEEN how it is used):\n" + (
        "\n".join(found)
    )
