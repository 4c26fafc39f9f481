"""Issue 10.1: nothing outside a run folder this process made is ever deleted.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_safe_cleanup.py.
"""

from __future__ import annotations

from pathlib import Path


def test_clean_up_skips_folders_it_did_not_make(tmp_path: Path) -> None:
    """The unit rule: not made by this process, or holding a foreign file: left alone."""
    from runner.output.run_folder import RunFolder
    from runner.run_dirs import note_new_folders

    old = tmp_path / "old"
    (old / ".hydra").mkdir(parents=True)
    (old / ".hydra" / "config.yaml").write_text("x")
    RunFolder(old).remove_if_unused()
    assert (old / ".hydra" / "config.yaml").exists()
    new = tmp_path / "a" / "new"
    note_new_folders(new)
    (new / "input").mkdir(parents=True)
    (new / "input" / "exp.jsonl").write_text("{}\n")
    (new / "yours.txt").write_text("x")
    RunFolder(new).remove_if_unused()
    assert (new / "yours.txt").exists() and (new / "input" / "exp.jsonl").exists()
    (new / "yours.txt").unlink()
    RunFolder(new).remove_if_unused()
    assert not (tmp_path / "a").exists() and tmp_path.exists()
