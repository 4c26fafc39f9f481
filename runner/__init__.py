"""runner: a declarative, config-driven batch runner for LLM prompt experiments.

Run an experiment from Python::

    from runner import run_experiment
    result = run_experiment("demo", ["max_queries=60"])
    df = result.dataframe()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from runner.api import run_experiment

__all__ = ["__version__", "run_experiment"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `python -m runner.query` and friends need none of it.
    if name == "run_experiment":
        from runner.api import run_experiment

        return run_experiment
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
