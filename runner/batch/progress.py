"""Batch progress: batches submitted / in progress / done and prompts done, as a log line.

The per-group bars (runner.output.progress) already count prompts as their results arrive;
this adds what only batch mode has: where the batches are. A line goes to the console and
``run.log`` each time a batch changes state.
"""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger


@dataclass
class BatchProgress:
    """Counters of the run's batches."""

    submitted: int = 0
    in_progress: int = 0
    done: int = 0
    prompts: int = 0  # prompts handed to batch mode (each counted once)
    prompts_done: int = 0  # prompts whose batch result was recorded

    def line(self) -> str:
        return (
            f"Batches: {self.submitted} submitted, {self.in_progress} in progress, "
            f"{self.done} done; prompts done {self.prompts_done:,}/{self.prompts:,}"
        )

    def changed(self, what: str) -> None:
        """Log where the batches are after ``what`` happened."""
        logger.info("{} ({})", self.line(), what)
