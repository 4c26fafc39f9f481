"""Template experiments against llmock: a multirun over variants and models, resume and the
cache by stable keys, repeats reduced in the report, and the three shipped examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from runner import run_experiment
from runner.errors import BadInputError
from tests import servers
from tests.helpers import ROOT, get_json, read_jsonl, write_jsonl
from tests.providers_support import openai_env

pytestmark = pytest.mark.integration

EXPERIMENT = """\
# @package _global_
defaults:
  - override /evaluation: includes
experiment:
  name: t
  data: qs.jsonl
  prompt:
    plain: "Q: {{ question }}"
    chat:
      - {role: system, content: "Answer briefly."}
      - {role: user, content: "{{ question }}"}
  models: [gpt_4o_mini]
  repeats: 3
  parameters: {max_tokens: 16}
"""


def _setup(tmp_path: Path) -> None:
    experiments = tmp_path / "experiments"
    write_jsonl(
        experiments / "qs.jsonl",
        [{"id": f"q{i}", "question": f"question {i}?", "expected_response": "a"} for i in range(4)],
    )
    yaml = experiments / "conf" / "experiment" / "t.yaml"
    yaml.parent.mkdir(parents=True)
    yaml.write_text(EXPERIMENT, encoding="utf-8")


def _overrides(tmp_path: Path, *more: str) -> list[str]:
    return [
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        f"limits_dir={tmp_path / 'limits'}",
        "max_queries=6000",
        "progress=off",
        *more,
    ]


def test_multirun_over_variants_and_models_indexes_and_reports_variants(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    _setup(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(openai_env(llmock_server), PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "-m",
            "experiment=t",
            "prompt_variant=plain,chat",
            "model=gpt_4o_mini,gpt_4_1_nano",
            *_overrides(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    runs = sorted(p for p in (tmp_path / "outputs" / "t").iterdir() if p.is_dir())
    assert len(runs) == 4
    seen = set()
    for run in runs:
        lines = read_jsonl(run / "completed.jsonl")
        assert len(lines) == 4 * 3  # rows x repeats, one variant, one model
        assert {line["status"] for line in lines} == {"ok"}
        variants = {line["prompt_variant"] for line in lines}
        models = {line["model_name"] for line in lines}
        assert len(variants) == 1 and len(models) == 1
        seen.add((*variants, *models))
        assert sorted(line["repeat"] for line in lines) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
        report = (run / "report.html").read_text(encoding="utf-8")
        assert f"{models.pop()} · {variants.pop()}" in report  # grouped as model · variant
        assert 'data-table="repeat-scores"' in report and "pass@3" in report
    assert seen == {(v, m) for v in ("plain", "chat") for m in ("gpt-4o-mini", "gpt-4.1-nano")}
    with duckdb.connect(str(tmp_path / "outputs" / "index.duckdb"), read_only=True) as db:
        rows = db.sql(
            "SELECT prompt_variant, model_name, count(*) FROM responses GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    assert rows == [
        ("chat", "gpt-4.1-nano", 12),
        ("chat", "gpt-4o-mini", 12),
        ("plain", "gpt-4.1-nano", 12),
        ("plain", "gpt-4o-mini", 12),
    ]
    from runner.view.queries import results

    chat = results(tmp_path / "outputs", {"variant": "chat"}, "", 1, 25)
    assert chat.total == 24 and {r["prompt_variant"] for r in chat.rows} == {"chat"}


def _requests(server: servers.Server) -> int:
    return len(get_json(f"{server.url}/_llmock/requests")["requests"])


def test_resume_and_cache_follow_the_stable_keys_each_repeat_its_own_entry(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    _setup(tmp_path)
    env = openai_env(llmock_server)
    first = run_experiment("t", _overrides(tmp_path, "cache=on", "index=false"), env=env)
    lines = read_jsonl(first.folder.completed)
    keys = [line["prompt_key"] for line in lines]
    assert len(keys) == 24 and len(set(keys)) == 24
    # Cut the run short: the last 5 lines were never written.
    completed = first.folder.completed
    kept = completed.read_text(encoding="utf-8").splitlines(keepends=True)[:-5]
    completed.write_text("".join(kept), encoding="utf-8")
    before = _requests(llmock_server)
    resumed = run_experiment(
        "t", _overrides(tmp_path, f"resume={first.folder.run_id}", "index=false"), env=env
    )
    assert _requests(llmock_server) - before == 5  # cache off here: the 5 missing sent
    again = read_jsonl(resumed.folder.completed)
    assert sorted(line["prompt_key"] for line in again) == sorted(keys)
    # The run keeps the expanded experiment's spec (the data by its SHA-256) as its input:
    # a resume after the data changed is refused, as for a changed prompto file.
    data = tmp_path / "experiments" / "qs.jsonl"
    original_data = data.read_text(encoding="utf-8")
    data.write_text(original_data.replace("question 3", "changed"), "utf-8")
    with pytest.raises(BadInputError, match="has changed"):
        run_experiment(
            "t", _overrides(tmp_path, f"resume={first.folder.run_id}", "index=false"), env=env
        )
    data.write_text(original_data, "utf-8")
    # A new run with the cache: every repeat answered from its own entry, none sent.
    before = _requests(llmock_server)
    cached = run_experiment("t", _overrides(tmp_path, "cache=on", "index=false"), env=env)
    assert _requests(llmock_server) == before
    answers = {line["prompt_key"]: line for line in read_jsonl(cached.folder.completed)}
    assert all(line["cached"] for line in answers.values())
    original = {line["prompt_key"]: line["response"] for line in lines}
    assert {k: v["response"] for k, v in answers.items()} == original


@pytest.mark.parametrize(("name", "prompts"), [("wording", 12), ("sums_sweep", 30), ("judged", 2)])
def test_the_shipped_examples_run(
    tmp_path: Path, llmock_server: servers.Server, name: str, prompts: int
) -> None:
    overrides = [
        f"experiments_dir={ROOT / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        f"limits_dir={tmp_path / 'limits'}",
        "max_queries=6000",
        "progress=off",
        "index=false",
    ]
    result = run_experiment(name, overrides, env=openai_env(llmock_server))
    lines = read_jsonl(result.folder.completed)
    assert len(lines) == prompts and {line["status"] for line in lines} == {"ok"}
    evaluations = read_jsonl(result.folder.path / "evaluations.jsonl")
    assert {row["prompt_key"] for row in evaluations} == {line["prompt_key"] for line in lines}
    if name == "sums_sweep":
        report = (result.folder.path / "report.html").read_text(encoding="utf-8")
        assert "pass@5" in report and "majority" in report


def test_limit_and_sample_run_only_n_prompts_of_a_file_or_a_template(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    _setup(tmp_path)
    write_jsonl(
        tmp_path / "experiments" / "f.jsonl",
        [
            {"id": f"p{i}", "prompt": f"hi {i}", "api": "openai", "model_name": "m"}
            for i in range(9)
        ],
    )
    env = openai_env(llmock_server)
    limited = run_experiment("t", _overrides(tmp_path, "limit=5", "index=false"), env=env)
    lines = read_jsonl(limited.folder.completed)
    assert [line["prompt_key"] for line in lines] == [
        "q0@plain#0", "q0@plain#1", "q0@plain#2", "q0@chat#0", "q0@chat#1"
    ]  # fmt: skip
    drawn = run_experiment("f", _overrides(tmp_path, "sample=3", "seed=4", "index=false"), env=env)
    keys = [line["prompt_key"] for line in read_jsonl(drawn.folder.completed)]
    assert len(keys) == 3 and len(set(keys)) == 3
    again = run_experiment("f", _overrides(tmp_path, "sample=3", "seed=4", "index=false"), env=env)
    assert sorted(keys) == sorted(line["prompt_key"] for line in read_jsonl(again.folder.completed))


def test_an_experiment_yaml_that_sets_multirun_sweeps_without_m(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """``hydra.mode: MULTIRUN`` and sweeper params in the YAML: read from the composed config
    (no longer from the YAML's text), the command line sweeps as ``hydra.main`` would."""
    _setup(tmp_path)
    swept = EXPERIMENT.replace("name: t", "name: swept") + (
        "hydra:\n  mode: MULTIRUN\n  sweeper:\n    params:\n      model: gpt_4o_mini,gpt_4_1_nano\n"
    )
    (tmp_path / "experiments" / "conf" / "experiment" / "swept.yaml").write_text(swept)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(openai_env(llmock_server), PYTHONPATH=str(ROOT))
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    command = [sys.executable, "-m", "runner", "experiment=swept", *_overrides(tmp_path)]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Sweep:   2 runs (2 exited 0)" in out.stdout
    runs = sorted(p for p in (tmp_path / "outputs" / "swept").iterdir() if p.is_dir())
    models = {line["model_name"] for run in runs for line in read_jsonl(run / "completed.jsonl")}
    assert len(runs) == 2 and models == {"gpt-4o-mini", "gpt-4.1-nano"}
    assert not (tmp_path / "xdg" / "runner" / "composed").exists()  # a sweep is not remembered
