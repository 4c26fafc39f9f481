"""The batch manifest: written before each step, torn lines tolerated, foreign ones refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.batch.manifest import MANIFEST, Manifest
from runner.errors import BadInputError


def _manifest(tmp_path: Path, *lines: str) -> Path:
    head = json.dumps({"event": "manifest", "run_id": "r1", "experiment": "e"})
    (tmp_path / MANIFEST).write_text("\n".join([head, *lines]))  # the last one torn
    return tmp_path


def test_a_torn_last_line_is_a_step_never_taken(tmp_path: Path) -> None:
    chunk = {"event": "chunk", "tag": "t", "api": "openai", "model_name": "m", "custom_ids": ["a"]}
    folder = _manifest(tmp_path, json.dumps(chunk), json.dumps({"event": "submitting", "tag": "t"}),
                       '{"event": "submitted", "tag": "t", "batch_')  # fmt: skip
    manifest = Manifest(folder, "r1", "e")
    (state,) = manifest.open_chunks()
    assert state.submitting and state.batch_id is None and state.custom_ids == ["a"]
    manifest.append({"event": "done", "tag": "t"})
    manifest.close()
    assert Manifest(folder, "r1", "e").open_chunks() == []


def test_garbage_inside_or_another_runs_manifest_is_refused(tmp_path: Path) -> None:
    folder = _manifest(tmp_path, "not json", "{}", "")
    with pytest.raises(BadInputError, match=r"batches.jsonl:2: not a JSON line"):
        Manifest(folder, "r1", "e")
    folder = _manifest(tmp_path, "")
    with pytest.raises(BadInputError, match="belongs to run 'r1' of experiment 'e'"):
        Manifest(folder, "r2", "e")


@pytest.mark.parametrize(
    "line",
    [{"event": "chunk", "tag": "t"}, ["not", "an", "object"], {"event": "chunk", "custom_ids": 5}],
)
def test_a_line_of_another_shape_is_refused_with_its_line_number(
    tmp_path: Path, line: object
) -> None:
    folder = _manifest(tmp_path, json.dumps(line), "")
    with pytest.raises(BadInputError, match=r"batches.jsonl:2: not a batch manifest line"):
        Manifest(folder, "r1", "e")


def test_an_echoed_key_is_masked_in_the_manifest(tmp_path: Path) -> None:
    # A create refused with "Incorrect API key provided: sk-..." goes into an abandoned line.
    from runner import redaction

    key = "sk-manifest-canary-0123456789"
    redaction.remember([key])
    manifest = Manifest(tmp_path, "r1", "e")
    manifest.append({"event": "chunk", "tag": "t1", "api": "openai", "model_name": "m",
                     "custom_ids": ["a"]})  # fmt: skip
    manifest.append({"event": "abandoned", "tag": "t1", "error": f"HTTP 401: bad key {key}"})
    manifest.close()
    text = (tmp_path / MANIFEST).read_text()
    assert key not in text and redaction.MASK in text
