"""Evaluation pipelines: scorers and LLM judges over result lines (see docs/evaluation.md)."""

from runner.evaluation.index import index_evaluations
from runner.evaluation.pipeline import EvaluationRun
from runner.evaluation.store import EVALUATIONS
from runner.evaluation.stored import EvaluationReport, evaluate_stored, find_run

__all__ = [
    "EVALUATIONS",
    "EvaluationReport",
    "EvaluationRun",
    "evaluate_stored",
    "find_run",
    "index_evaluations",
]
