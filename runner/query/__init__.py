"""Read-only SQL over the results index: ``python -m runner.query`` and the Python API.

>>> from runner.query import query_df, run_responses
>>> query_df("SELECT experiment, count(*) FROM responses GROUP BY ALL", "outputs")
"""

from runner.query.api import check_read_only, query_df, run_responses

__all__ = ["check_read_only", "query_df", "run_responses"]
