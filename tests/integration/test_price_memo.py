"""genai-prices is asked once per model and day on a machine; a later run does not load it.

The tests with servers or subprocesses; the in-process ones are in
tests/unit/test_price_memo.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_PRICE_TWICE = """
import sys
from runner.cost.prices import PriceBook
book = PriceBook()
cost = book.cost_of("openai", "gpt-4o-mini", 1_000_000, 1_000_000, batch=False)
unknown = book.cost_of("openai", "no-such-model-xyz", 10, 10, batch=False)
print(repr(cost), repr(unknown), "genai_prices" in sys.modules)
"""


def _price_in_new_process(cache_home: Path) -> list[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    done = subprocess.run(
        [sys.executable, "-c", _PRICE_TWICE], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_a_second_process_prices_without_loading_genai_prices(tmp_path: Path) -> None:
    first = _price_in_new_process(tmp_path)
    second = _price_in_new_process(tmp_path)
    assert first[2] == "True" and second[2] == "False"  # the second run never imported it
    assert first[:2] == second[:2] and first[1] == "None"  # same price; unknown stays unknown
    assert float(first[0]) > 0
    memo = json.loads((tmp_path / "runner" / "genai-prices.json").read_text())
    assert set(memo["rates"]) == {"openai|gpt-4o-mini|online", "openai|no-such-model-xyz|online"}


_WARM_AND_READ = """
import sys
from runner.cost.prices import PriceBook
from runner.providers.openai import parse_chat_completion
PriceBook().warm([("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")])
usage = {"prompt_tokens": 10, "completion_tokens": 5,
         "prompt_tokens_details": {"cached_tokens": 8}}
done = parse_chat_completion({"choices": [{"message": {"content": "a"}}], "usage": usage})
print(done.input_tokens, done.cached_input_tokens, "genai_prices" in sys.modules)
"""


def test_a_second_process_reads_usage_without_loading_genai_prices(tmp_path: Path) -> None:
    """The usage readers' paths (from genai-prices' extractors) are kept in the memo too."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", _WARM_AND_READ], env=env, capture_output=True, text=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert runs[0] == ["10", "8", "True"] and runs[1] == ["10", "8", "False"]
    memo = json.loads((tmp_path / "runner" / "genai-prices.json").read_text())
    assert {"reader|openai|chat", "reader|anthropic|default"} <= set(memo["rates"])
