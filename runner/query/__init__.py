"""Read-only SQL over the results index: ``python -m runner.query`` and the Python API.

>>> from runner.query import query_df, run_responses
>>> query_df("SELECT experiment, count(*) FROM responses GROUP BY ALL", "outputs")

Code that needs a DuckDB connection of its own (the viewer) opens it with
:func:`open_readonly`: read-only, sealed against reaching any other file.
"""

from runner.query.api import open_readonly, query_df, run_responses
from runner.query.check import check_read_only

__all__ = ["check_read_only", "open_readonly", "query_df", "run_responses"]
