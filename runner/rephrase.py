"""``python -m runner.rephrase experiment=NAME rephrase=CONF``: write a paraphrased experiment.

Writes ``<experiments_dir>/<NAME>-rephrased.jsonl`` (originals plus paraphrases, tagged with
``rephrase_of`` and ``rephrase_template``); run it as any experiment. Exit status: 0, 1 when
some paraphrase requests failed (their prompts keep only the original), 2 for bad input.
"""

from __future__ import annotations

import sys

from loguru import logger
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from runner import logs
from runner.cli import config_problem
from runner.commands import python_command
from runner.config import compose_config, to_settings
from runner.config.help import HELP_FLAGS, command_help
from runner.errors import ConfigError, RunnerError
from runner.evaluation.rephrase import rephrase_experiment


def main() -> None:
    """The command line."""
    logs.configure()
    if any(a in HELP_FLAGS for a in sys.argv[1:]):
        print(
            command_help(
                "runner.rephrase", "experiment=NAME rephrase=NAME [key=value ...]", __doc__
            )
        )
        sys.exit(0)
    try:
        try:
            settings = to_settings(compose_config(sys.argv[1:]))
        except MissingMandatoryValue as exc:
            raise ConfigError(
                f"A required setting has no value (experiment=NAME?): {exc}"
            ) from None
        except OmegaConfBaseException as exc:
            raise ConfigError(str(exc)) from None
        logs.configure(settings.log_level)
        result = rephrase_experiment(settings)
    except RunnerError as exc:
        logger.error("{}", exc)
        sys.exit(exc.exit_code)
    except Exception as exc:  # Hydra's MissingConfigException and friends
        problem = config_problem(exc)
        if problem is None:
            raise
        logger.error("{}", problem)
        sys.exit(problem.exit_code)
    print(
        f"Wrote {result.path}: {result.originals} original(s), {result.paraphrases} "
        f"paraphrase(s), {result.failed} failed request(s). Run it: "
        f"{python_command()} -m runner experiment={result.path.stem}"
    )
    sys.exit(1 if result.failed else 0)


if __name__ == "__main__":
    main()
