"""genai-prices is asked once per model and day on a machine; a later run does not load it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.cost.price_memo import READER_PREFIX, PriceMemo
from runner.cost.prices import PriceBook


def test_the_memo_holds_for_one_day_and_one_genai_prices(tmp_path: Path) -> None:
    path = tmp_path / "memo.json"
    rates = [0.0, 1e-6, 2e-6, 0.5e-6, 1e-6, 1e-6, 2e-6]
    PriceMemo(path, today="2026-12-01").put("openai|m|online", rates)
    assert PriceMemo(path, today="2026-12-01").get("openai|m|online") == (True, rates)
    assert PriceMemo(path, today="2026-12-02").get("openai|m|online") == (False, None)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "source": "another genai-prices"}))
    assert PriceMemo(path, today="2026-12-01").get("openai|m|online") == (False, None)


@pytest.mark.parametrize(
    "text", ["", "not json", "[1, 2]", '{"rates": 3}', '{"rates": {"k": "oops"}}', "\x00\xff"]
)
def test_a_broken_memo_is_ignored_and_rewritten(tmp_path: Path, text: str) -> None:
    path = tmp_path / "memo.json"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    book = PriceBook(memo=PriceMemo(path))
    assert book.cost_of("openai", "gpt-4o-mini", 1_000_000, 0, batch=False)
    assert "openai|gpt-4o-mini|online" in json.loads(path.read_text())["rates"]


def test_an_unwritable_memo_only_costs_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    book = PriceBook(memo=PriceMemo(blocked / "memo.json"))
    assert book.cost_of("openai", "gpt-4o-mini", 1_000_000, 0, batch=False)
    assert blocked.read_text() == "x" and not list(tmp_path.glob("**/*.tmp"))


def test_the_users_price_wins_over_the_memo(tmp_path: Path) -> None:
    from runner.cost.prices import Price

    memo = PriceMemo(tmp_path / "memo.json")
    memo.put(PriceMemo.key("openai", "gpt-4o-mini", False), [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    book = PriceBook({"gpt-4o-mini": Price(2.0, 4.0)}, memo=memo)
    assert book.cost_of("openai", "gpt-4o-mini", 1_000_000, 1_000_000, batch=False) == 6.0
    assert PriceBook(memo=memo).cost_of("openai", "gpt-4o-mini", 1, 1, batch=False) == 2.0


def test_an_older_runners_three_rate_entry_is_asked_again(tmp_path: Path) -> None:
    """Rates without cache and reasoning prices (before those were priced) are not used."""
    path = tmp_path / "memo.json"
    PriceMemo(path, today="2026-12-01").put("openai|m|online", [0.0, 1e-6, 2e-6])
    assert PriceMemo(path, today="2026-12-01").get("openai|m|online") == (False, None)


def test_two_runs_pricing_other_models_both_stay_in_the_memo(tmp_path: Path) -> None:
    path = tmp_path / "memo.json"
    first, second = PriceMemo(path, today="2026-12-01"), PriceMemo(path, today="2026-12-01")
    first.get("x")  # both read the memo before either saves
    second.get("x")
    first.put("openai|a|online", [0.0, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6])
    second.put("openai|b|online", None)
    assert set(json.loads(path.read_text())["rates"]) == {"openai|a|online", "openai|b|online"}


def test_thousands_of_unknown_models_one_warning_one_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 23 item 11: 100,000 models gave 20,969 price warnings and no request in 200 s.

    The memo was rewritten whole for each model; now once per warm-up. One warning per api
    names the first model; the count of the rest comes at the end.
    """
    from loguru import logger

    memo = PriceMemo(tmp_path / "memo.json")
    saves: list[int] = []
    real_save = memo.save

    def save() -> None:
        saves.append(1)
        real_save()

    monkeypatch.setattr(memo, "save", save)
    book = PriceBook(memo=memo)
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="WARNING", format="{message}")
    try:
        book.warm([("openai", f"no-such-model-{i}") for i in range(2000)])
        book.report_unpriced()
    finally:
        logger.remove(sink)
    assert len(saves) == 1
    saved = json.loads((tmp_path / "memo.json").read_text())["rates"]
    assert len([k for k in saved if not k.startswith(READER_PREFIX)]) == 2000  # + usage readers
    assert len(seen) == 2, seen
    assert "openai/no-such-model-0" in seen[0]
    assert "2,000 models of openai had no known price" in seen[1]


def test_the_cost_table_lists_fifty_models_then_a_count() -> None:
    from runner.output.money import MAX_MODEL_ROWS, format_costs

    models = {f"openai/m{i}": {"results": 1, "cost_usd": 0.0, "unpriced": 1} for i in range(999)}
    lines = format_costs(models)
    assert len(lines) == MAX_MODEL_ROWS + 2
    assert lines[-1] == f"  ... and {999 - MAX_MODEL_ROWS:,} more models (run.json)"
