"""A record read back from the plan's spool keeps its key: an id-less record's content hash
(json.dumps and blake2b, ~10 us) is worked out once per prompt, not again at sending."""

from __future__ import annotations

import pytest

from runner.prompts import records
from runner.prompts.records import PromptRecord


def test_a_record_given_its_key_is_not_hashed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"api": "openai", "model_name": "m", "prompt": "no id here"}
    key = PromptRecord(data).key
    assert key.startswith("h-")

    def no_hash(_data: object) -> str:
        raise AssertionError("hashed again")

    monkeypatch.setattr(records, "prompt_key", no_hash)
    again = PromptRecord(data, "exp.jsonl", 3, key)
    assert (again.key, again.source, again.line) == (key, "exp.jsonl", 3)
    with pytest.raises(AssertionError):
        PromptRecord(data)  # no key given: its content is hashed, as before
