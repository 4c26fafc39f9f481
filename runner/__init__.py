"""runner: a declarative, config-driven batch runner for LLM prompt experiments.

Run an experiment from Python::

    from runner import run_experiment
    result = run_experiment("demo", ["max_queries=60"])
    df = result.dataframe()
"""

__version__ = "0.1.0"

from runner.api import run_experiment

__all__ = ["__version__", "run_experiment"]
