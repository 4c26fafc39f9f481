"""``python -m runner.rephrase experiment=NAME rephrase=CONF``: write a paraphrased experiment.

Writes ``<experiments_dir>/<NAME>-rephrased.jsonl`` (originals plus paraphrases, tagged with
``rephrase_of`` and ``rephrase_template``); run it as any experiment. Exit status: 0, 1 when
some paraphrase requests failed (their prompts keep only the original), 2 for bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from runner import cli, logs
from runner.cli import Command
from runner.commands import shell_command
from runner.config.compose import compose_settings
from runner.evaluation.rephrase import rephrase_experiment
from runner.paths import DEFAULT_OUTPUTS_DIR
from runner.visible import visible

COMMAND = Command("runner.rephrase", "experiment=NAME rephrase=NAME [key=value ...]", __doc__)


def _rephrase(args: list[str]) -> int:
    import runner.providers  # noqa: F401 - declares each provider's settings block

    settings = compose_settings(args)
    logs.configure(settings.log_level)
    result = rephrase_experiment(settings)
    run_it = [f"experiment={result.path.stem}"]
    if result.path.parent.resolve() != Path("experiments").resolve():
        run_it.append(f"experiments_dir={result.path.parent}")
    if Path(settings.outputs_dir) != DEFAULT_OUTPUTS_DIR:
        run_it.append(f"outputs_dir={settings.outputs_dir}")
    said = (
        f"Wrote {result.path}: {result.originals} original(s), {result.paraphrases} "
        f"paraphrase(s), {result.failed} failed request(s). Run it: "
        f"{shell_command('runner', *run_it)}"
    )
    print(visible(said))  # a folder name holding ESC
    if result.budget:
        print(f"  {result.budget}")
    return 1 if result.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return cli.main(COMMAND, _rephrase, argv)


if __name__ == "__main__":
    sys.exit(main())
