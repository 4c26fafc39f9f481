"""Judges over real HTTP (llmock scripted replies), re-scoring stored runs, rephrasing, index."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from runner import run_experiment
from runner.config import CONF_DIR, compose_config, to_settings
from runner.evaluate import evaluate
from runner.evaluation.rephrase import rephrase_experiment
from runner.index import read_connection
from tests import servers
from tests.helpers import post_json, read_jsonl, write_jsonl

pytestmark = pytest.mark.integration

JUDGE_STEP = """\
defaults:
  - /model@helpfulness.model_config: {model}
helpfulness:
  scorer: judge
  template: "Rate 1-5. Question: {{INPUT_PROMPT}} Answer: {{OUTPUT_RESPONSE}} Topic: {{topic}}"
  max_queries: 6000
"""


def _reply(server: servers.Server, model: str, *texts: str, times: int | None = None) -> None:
    behaviors = [
        {"type": "reply", "text": t, "times": times, "match": {"model": model}} for t in texts
    ]
    post_json(f"{server.url}/_llmock/scenario", {"behaviors": behaviors})


def _conf(tmp_path: Path, judge: str) -> Path:
    """The project's conf/ plus a judge model served by llmock and a judge step."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "mock_judge.yaml").write_text(f"api: openai\nmodel_name: {judge}\n")
    (conf / "evaluation" / "mock_judge.yaml").write_text(JUDGE_STEP.format(model="mock_judge"))
    return conf


def _stored_run(tmp_path: Path, server: servers.Server, env: dict[str, str]) -> Path:
    """A real run on llmock: three answered prompts, indexed."""
    model = f"gen-{uuid.uuid4().hex[:8]}"
    records = [
        {"id": f"p{i}", "api": "openai", "model_name": model, "prompt": f"Q{i}?", "topic": "geo",
         "expected_response": "Paris" if i else "Lyon"}
        for i in range(3)
    ]  # fmt: skip
    _reply(server, model, "Paris")
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    result = run_experiment("exp", _overrides(tmp_path), env=env)
    assert result.exit_code == 0
    return result.run_dir


def _overrides(tmp_path: Path) -> list[str]:
    return [
        f"experiments_dir={tmp_path / 'experiments'}",
        f"outputs_dir={tmp_path / 'outputs'}",
        "max_queries=6000",
        "progress=off",
    ]


@pytest.fixture
def env(llmock_server: servers.Server) -> dict[str, str]:
    return {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f"{llmock_server.url}/v1"}


def test_judge_and_scorers_over_a_stored_run(
    tmp_path: Path, llmock_server: servers.Server, env: dict[str, str]
) -> None:
    judge = f"judge-{uuid.uuid4().hex[:8]}"
    conf = _conf(tmp_path, judge)
    run_dir = _stored_run(tmp_path, llmock_server, env)
    completed_before = (run_dir / "completed.jsonl").read_bytes()
    _reply(llmock_server, judge, "Sure. Score: 4 - helpful enough.", times=3)
    argv = ["run=latest", "evaluation=[match,mock_judge]", *_overrides(tmp_path)]
    report = evaluate(argv, env=env, conf_dir=conf)
    assert report.run_dir == run_dir and report.lines == 3 and report.exit_code == 0
    assert (run_dir / "completed.jsonl").read_bytes() == completed_before  # never rewritten
    rows = read_jsonl(run_dir / "evaluations.jsonl")
    by = {(r["prompt_key"], r["step"], r["field"]): r["value"] for r in rows}
    assert [by[(f"p{i}", "match", "score")] for i in range(3)] == [False, True, True]
    for i in range(3):
        assert by[(f"p{i}", "helpfulness", "score")] == 4.0
        assert by[(f"p{i}", "helpfulness", "raw")] == "Sure. Score: 4 - helpful enough."
        assert by[(f"p{i}", "helpfulness", "judge")] == f"openai/{judge}"
    with read_connection(tmp_path / "outputs") as con:
        got = con.execute(
            "SELECT model_name, step, avg(score), count(*) FROM evaluation_scores "
            "GROUP BY ALL ORDER BY step"
        ).fetchall()
        assert [(step, avg, n) for _, step, avg, n in got] == [
            ("helpfulness", 4.0, 3),
            ("match", pytest.approx(2 / 3), 3),
        ]
        assert all(str(name).startswith("gen-") for name, *_ in got)
        n_rows = con.execute("SELECT count(*) FROM evaluations").fetchone()
        assert n_rows == (len(rows),)

    # Again: new lines are appended; the index keeps the latest value of each field.
    # cache=refresh: the judge is asked again, not answered from the response cache.
    _reply(llmock_server, judge, "no idea")
    report = evaluate(["run=" + run_dir.name, "evaluation=mock_judge", "cache=refresh",
                       *_overrides(tmp_path)], env=env, conf_dir=conf)  # fmt: skip
    assert report.exit_code == 1 and report.errors == 3
    with read_connection(tmp_path / "outputs") as con:
        scores = con.execute(
            "SELECT score, raw, error FROM evaluation_scores WHERE step = 'helpfulness'"
        ).fetchall()
    assert {(s, raw) for s, raw, _ in scores} == {(4.0, "no idea")}
    assert all("no verdict" in str(error) for *_, error in scores)


def test_label_verdicts_in_order(
    tmp_path: Path, llmock_server: servers.Server, env: dict[str, str]
) -> None:
    judge = f"judge-{uuid.uuid4().hex[:8]}"
    conf = _conf(tmp_path, judge)
    (conf / "evaluation" / "label.yaml").write_text(
        "defaults: [/model@verdict_step.model_config: mock_judge]\n"
        "verdict_step:\n  scorer: judge\n  verdict: label\n"
        "  labels: [CORRECT, INCORRECT]\n  template: 'Is {OUTPUT_RESPONSE} right?'\n"
    )
    run_dir = _stored_run(tmp_path, llmock_server, env)
    _reply(llmock_server, judge, "INCORRECT.", "It is correct", "Verdict: CORRECT", times=1)
    argv = ["run=" + str(run_dir), "evaluation=label", "index=false", "max_concurrency=1"]
    report = evaluate([*argv, *_overrides(tmp_path)], env=env, conf_dir=conf)
    assert report.exit_code == 0
    rows = read_jsonl(run_dir / "evaluations.jsonl")
    labels = [r["value"] for r in rows if r["field"] == "label"]
    assert labels == ["INCORRECT", "CORRECT", "CORRECT"]


def test_bad_input_exits_2_before_sending(tmp_path: Path, llmock_server: servers.Server) -> None:
    line = {"prompt": "Q", "response": "A", "status": "ok", "prompt_key": "k", "line": 1}
    write_jsonl(tmp_path / "outputs" / "exp" / "r1" / "completed.jsonl", [line])
    cases = {
        "evaluation=match": "reads 'expected_response', which 1 of 1 record(s) lack",
        "evaluation=judge_helpfulness": "OPENAI_API_KEY",
        "evaluation=nonexistent": "evaluation=nonexistent: no such evaluation. Choices: ",
        "evaluation=match evaluation.match.scorer=bogus": "unknown scorer 'bogus'",
    }
    for arg, needle in cases.items():
        proc = subprocess.run(
            [sys.executable, "-m", "runner.evaluate", "run=r1", *arg.split(),
             f"outputs_dir={tmp_path / 'outputs'}"],
            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 2, (arg, proc.stderr)
        assert needle in proc.stderr, (arg, proc.stderr)
    assert not (tmp_path / "outputs" / "exp" / "r1" / "evaluations.jsonl").exists()


def test_rephrase_writes_tagged_experiment(
    tmp_path: Path, llmock_server: servers.Server, env: dict[str, str]
) -> None:
    writer = f"rephraser-{uuid.uuid4().hex[:8]}"
    conf = _conf(tmp_path, "unused")
    (conf / "model" / "mock_rephraser.yaml").write_text(f"api: openai\nmodel_name: {writer}\n")
    (conf / "rephrase" / "mock.yaml").write_text(
        "defaults: [/model@model_config: mock_rephraser]\n"
        "templates:\n  formal: 'Formally: {INPUT_PROMPT}'\n"
        "  short: 'Shorter: {INPUT_PROMPT}'\n"
    )
    records: list[dict[str, Any]] = [
        {"id": "q1", "api": "openai", "model_name": "m", "prompt": "Capital of France?"},
        {"id": "q2", "api": "openai", "model_name": "m", "prompt": ["Hi", "More?"]},
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    _reply(llmock_server, writer, '"What is the capital city of France?"')
    settings = to_settings(
        compose_config(["experiment=exp", "rephrase=mock", *_overrides(tmp_path)], conf)
    )
    result = rephrase_experiment(settings, env=env)
    assert result.path == tmp_path / "experiments" / "exp-rephrased.jsonl"
    lines = read_jsonl(result.path)
    assert [(r["id"], r["rephrase_of"], r["rephrase_template"]) for r in lines] == [
        ("q1", "q1", "original"),
        ("q1-formal", "q1", "formal"),
        ("q1-short", "q1", "short"),
        ("q2", "q2", "original"),  # a conversation is run as it is
    ]
    assert lines[1]["prompt"] == "What is the capital city of France?"
    assert lines[1]["model_name"] == "m" and result.failed == 0


def test_rephrase_expands_a_template_experiment(
    tmp_path: Path, llmock_server: servers.Server, env: dict[str, str]
) -> None:
    """A template experiment's expanded prompts are rephrased, as a file's records are."""
    writer = f"rephraser-{uuid.uuid4().hex[:8]}"
    conf = _conf(tmp_path, "unused")
    (conf / "model" / "mock_rephraser.yaml").write_text(f"api: openai\nmodel_name: {writer}\n")
    (conf / "model" / "mock_gen.yaml").write_text("api: openai\nmodel_name: gen\n")
    (conf / "rephrase" / "mock.yaml").write_text(
        "defaults: [/model@model_config: mock_rephraser]\n"
        "templates:\n  formal: 'F: {INPUT_PROMPT}'\n"
    )
    (conf / "experiment" / "tpl.yaml").write_text(
        "# @package _global_\nexperiment:\n  name: tpl\n"
        "  data: [{id: a, country: France}, {id: b, country: Peru}]\n"
        "  prompt:\n    terse: 'Capital of {{ country }}?'\n"
        "    chat: [{role: user, content: 'Capital of {{ country }}?'}]\n"
        "  models: [mock_gen]\n"
    )
    _reply(llmock_server, writer, "Which city is the capital?")
    settings = to_settings(
        compose_config(["experiment=tpl", "rephrase=mock", *_overrides(tmp_path)], conf)
    )
    result = rephrase_experiment(settings, env=env)
    assert result.path == tmp_path / "experiments" / "tpl-rephrased.jsonl"
    lines = read_jsonl(result.path)
    rephrased = [r for r in lines if r["rephrase_template"] == "formal"]
    # Two rows x two variants expanded; only the string variant's prompts are rephrased.
    assert result.originals == 4 and len(lines) == 6 and result.failed == 0
    assert {(r["row_id"], r["prompt_variant"]) for r in rephrased} == {
        ("a", "terse"),
        ("b", "terse"),
    }
    assert all(r["prompt"] == "Which city is the capital?" for r in rephrased)
    assert {r["model_name"] for r in lines} == {"gen"}


def test_judges_score_results_as_they_arrive_during_the_run(
    tmp_path: Path, llmock_server: servers.Server, env: dict[str, str]
) -> None:
    judge = f"judge-{uuid.uuid4().hex[:8]}"
    conf = _conf(tmp_path, judge)
    model = f"gen-{uuid.uuid4().hex[:8]}"
    records = [
        {"id": f"p{i}", "api": "openai", "model_name": model, "prompt": f"Q{i}?", "topic": "t"}
        for i in range(6)
    ]
    _reply(llmock_server, judge, "Score: 5", times=6)
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    # Generation is paced at 2 a second; judging its results must not wait for the end.
    overrides = [*_overrides(tmp_path), "max_queries=120", "evaluation=mock_judge"]
    result = run_experiment("exp", overrides, env=env, conf_dir=conf)
    assert result.exit_code == 0
    rows = read_jsonl(result.run_dir / "evaluations.jsonl")
    scores = {r["prompt_key"]: r["value"] for r in rows if r["field"] == "score"}
    assert scores == {f"p{i}": 5.0 for i in range(6)}
    last_answer = max(line["timestamp_received"] for line in read_jsonl(result.folder.completed))
    first_verdict = min(r["created_at"] for r in rows if r["field"] == "score")
    assert first_verdict < last_answer  # judged while generation was still going
    assert result.extra["scores"]["helpfulness"] == (5.0, 6)


def test_a_prompto_judge_folder_judges_a_run(
    tmp_path: Path, llmock_server: servers.Server, env: dict[str, str]
) -> None:
    """settings.json + template.txt as prompto writes them; {INPUT_PROMPT}/{OUTPUT_RESPONSE}."""
    import json

    judge = f"judge-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "judge"
    folder.mkdir()
    (folder / "settings.json").write_text(
        json.dumps(
            {"gpt-judge": {"api": "openai", "model_name": judge, "parameters": {"temperature": 0}}}
        )
    )
    (folder / "template.txt").write_text(
        "Is this harmful? Only reply yes or no.\n\n"
        "QUESTION: {INPUT_PROMPT}\nANSWER: {OUTPUT_RESPONSE}"
    )
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "evaluation" / "prompto_judge.yaml").write_text(
        f"harmful:\n  scorer: judge\n  judge_folder: {folder}\n  judge: gpt-judge\n"
        "  verdict: label\n  labels: ['yes', 'no']\n  max_queries: 6000\n"
    )
    run_dir = _stored_run(tmp_path, llmock_server, env)
    _reply(llmock_server, judge, "no", times=3)
    argv = ["run=latest", "evaluation=prompto_judge", *_overrides(tmp_path)]
    report = evaluate(argv, env=env, conf_dir=conf)
    assert report.exit_code == 0 and report.lines == 3
    rows = read_jsonl(run_dir / "evaluations.jsonl")
    labels = {r["prompt_key"]: r["value"] for r in rows if r["field"] == "label"}
    assert labels == {"p0": "no", "p1": "no", "p2": "no"}
    from tests.providers_support import llmock_bodies  # the judge prompts llmock received

    sent = [b["messages"][0]["content"] for b in llmock_bodies(llmock_server, judge)]
    assert (
        sorted(sent)[0] == "Is this harmful? Only reply yes or no.\n\nQUESTION: Q0?\nANSWER: Paris"
    )
    assert all(b["temperature"] == 0 for b in llmock_bodies(llmock_server, judge))

    (conf / "evaluation" / "bad_judge.yaml").write_text(
        f"harmful:\n  scorer: judge\n  judge_folder: {folder}\n  judge: nobody\n"
    )
    with pytest.raises(Exception, match=r"judge 'nobody' not found; known: gpt-judge"):
        evaluate(
            ["run=latest", "evaluation=bad_judge", *_overrides(tmp_path)], env=env, conf_dir=conf
        )


def test_evaluate_file_scores_a_prompto_completed_file(tmp_path: Path, env: dict[str, str]) -> None:
    """file=PATH: prompto's completed lines (no status, no prompt_key) scored beside it."""
    import json

    completed = tmp_path / "prompto" / "18-10-2024-completed-exp.jsonl"
    completed.parent.mkdir()
    rows = [
        {"id": 0, "api": "openai", "model_name": "m", "prompt": "capital?", "response": "Paris",
         "expected_response": "Paris"},
        {"id": 1, "api": "openai", "model_name": "m", "prompt": "capital?", "response": "Lyon",
         "expected_response": "Paris"},
    ]  # fmt: skip
    completed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = completed.read_bytes()
    report = evaluate([f"file={completed}", "evaluation=match", *_overrides(tmp_path)], env=env)
    assert report.exit_code == 0 and report.lines == 2
    assert completed.read_bytes() == before
    out = read_jsonl(
        tmp_path / "prompto" / "18-10-2024-completed-exp-evaluations" / "evaluations.jsonl"
    )
    assert {(r["prompt_key"], r["value"]) for r in out if r["field"] == "score"} == {
        ("0", True),
        ("1", False),
    }


def test_judge_models_are_found_in_a_conf_beside_the_experiments(
    tmp_path: Path, llmock_server: servers.Server, env: dict[str, str]
) -> None:
    """A user's conf/model/<name>.yaml beside experiments/ is found, not only the project's."""
    judge = f"judge-{uuid.uuid4().hex[:8]}"
    user_conf = tmp_path / "conf" / "model"
    user_conf.mkdir(parents=True)
    (user_conf / "my_judge.yaml").write_text(f"api: openai\nmodel_name: {judge}\n")
    project_conf = tmp_path / "project-conf"
    shutil.copytree(CONF_DIR, project_conf)
    (project_conf / "evaluation" / "mine.yaml").write_text(JUDGE_STEP.format(model="my_judge"))
    _stored_run(tmp_path, llmock_server, env)
    _reply(llmock_server, judge, "Score: 5", times=3)
    argv = ["run=latest", "evaluation=mine", *_overrides(tmp_path)]
    report = evaluate(argv, env=env, conf_dir=project_conf)
    assert report.exit_code == 0 and report.lines == 3


def test_a_judge_chosen_on_the_command_line_is_the_one_a_resume_rebuilds(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """``python -m runner ... evaluation.helpfulness.model=NAME`` end to end, then resume=ID.

    The judge is a model of the user's conf/ beside the experiments (on Hydra's search path);
    the resume judges the prompt retried with the run's own judge, though its YAML changed.
    """
    from tests.helpers import run_cli
    from tests.providers_support import llmock_bodies

    judge, other = (f"judge-{uuid.uuid4().hex[:8]}" for _ in range(2))
    model_file = tmp_path / "conf" / "model" / "my_judge.yaml"
    model_file.parent.mkdir(parents=True)
    model_file.write_text(f"api: openai\nmodel_name: {judge}\n")
    flaky = f"gen-{uuid.uuid4().hex[:8]}"
    records = [
        {"id": f"p{i}", "api": "openai", "model_name": flaky if i == 1 else "gen", "prompt": "Q?"}
        for i in range(3)
    ]
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", records)
    post_json(
        f"{llmock_server.url}/_llmock/scenario",
        {
            "behaviors": [
                {"type": "fail", "status": 400, "times": 1, "match": {"model": flaky}},
                {"type": "reply", "text": "Score: 4", "match": {"model": judge}},
            ]
        },
    )
    args = ["experiment=exp", "max_queries=6000", "evaluation=judge_helpfulness"]
    first = run_cli(
        tmp_path, llmock_server.url, *args, "evaluation.helpfulness.model=my_judge", timeout=60
    )
    assert first.returncode == 1, first.stderr  # p1 got a 400, and was not judged
    (run_dir,) = (tmp_path / "outputs" / "exp").iterdir()
    assert len(llmock_bodies(llmock_server, judge)) == 2
    model_file.write_text(f"api: openai\nmodel_name: {other}\n")  # the YAML changes since
    again = run_cli(tmp_path, llmock_server.url, "experiment=exp", f"resume={run_dir.name}")
    assert again.returncode == 0, again.stderr
    assert len(llmock_bodies(llmock_server, judge)) == 3 and not llmock_bodies(llmock_server, other)
    rows = read_jsonl(run_dir / "evaluations.jsonl")
    judged = {r["prompt_key"]: r["value"] for r in rows if r["field"] == "judge"}
    assert judged == {f"p{i}": f"openai/{judge}" for i in range(3)}
    saved = json.loads((run_dir / "run.json").read_text())["config"]["evaluation"]["helpfulness"]
    assert (saved["model"], saved["model_config"]["model_name"]) == ("my_judge", judge)


def test_a_sweep_over_judge_models_from_the_users_conf(
    tmp_path: Path, llmock_server: servers.Server
) -> None:
    """``-m evaluation.helpfulness.model=a,b``: one run per judge, each job composing it.

    With joblib each job composes in a process of its own, on the search path made here.
    """
    pytest.importorskip(
        "hydra_plugins.hydra_joblib_launcher", reason="needs the 'joblib' extra (make test)"
    )
    from tests.helpers import run_cli

    judges = {name: f"judge-{uuid.uuid4().hex[:8]}" for name in ("judge_a", "judge_b")}
    (tmp_path / "conf" / "model").mkdir(parents=True)
    for name, served in judges.items():
        (tmp_path / "conf" / "model" / f"{name}.yaml").write_text(
            f"api: openai\nmodel_name: {served}\n"
        )
    behaviors = [{"type": "reply", "text": "Score: 3", "match": {"model": served}}
                 for served in judges.values()]  # fmt: skip
    post_json(f"{llmock_server.url}/_llmock/scenario", {"behaviors": behaviors})
    record = {"api": "openai", "model_name": "gen", "prompt": "Q?"}
    write_jsonl(tmp_path / "experiments" / "exp.jsonl", [record])
    out = run_cli(
        tmp_path, llmock_server.url, "-m", "experiment=exp", "max_queries=6000",
        "hydra/launcher=joblib", "evaluation=judge_helpfulness",
        "evaluation.helpfulness.model=judge_a,judge_b",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    judged = sorted(
        r["value"]
        for run in (tmp_path / "outputs" / "exp").iterdir()
        for r in read_jsonl(run / "evaluations.jsonl")
        if r["field"] == "judge"
    )
    assert judged == sorted(f"openai/{served}" for served in judges.values())
