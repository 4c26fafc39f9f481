"""``python -m runner.expand experiment=NAME out=FILE.jsonl``: a template as a prompto file.

Writes a template experiment (conf/experiment/NAME.yaml with data and prompt) as the
prompto-format JSONL file it expands to, one prompt a line (``id``, ``prompt``, ``api``,
``model_name``, ``parameters``, the data's columns, ``prompt_variant`` and ``repeat``), so
it can be shared with prompto users or run as a file experiment. ``limit=N``, ``sample=N``
and ``prompt_variant=NAME`` apply as for a run. Nothing is sent; an existing file is never
overwritten.

Exit status: 0 when written, 2 when the experiment or the output path is wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from runner import cli
from runner.cli import Command
from runner.commands import python_command
from runner.config.compose import compose_settings
from runner.errors import BadInputError, ConfigError
from runner.visible import visible
from runner.wire_json import json_line

COMMAND = Command("runner.expand", "experiment=NAME out=FILE.jsonl [key=value ...]", __doc__)


def expand_to_file(overrides: Sequence[str], out: Path) -> int:
    """Write the template experiment the overrides compose to into ``out``; prompts written.

    Raises:
        ConfigError: the experiment is a file experiment, or its config is wrong.
        BadInputError: ``out`` exists, or the data or a template is bad.
    """
    import runner.providers  # noqa: F401 - declares each provider's settings block
    from runner.prompts.expand import Expansion, is_template
    from runner.prompts.select import selection

    settings = compose_settings(overrides)
    if not is_template(settings):
        raise ConfigError(
            f"experiment {settings.experiment.name or settings.experiment.file}: already a "
            "prompto file (runner.expand writes template experiments, those with data and prompt)"
        )
    if out.suffix != ".jsonl":
        raise BadInputError(f"out={out}: the file must end in .jsonl (prompto's JSONL format)")
    if out.exists():
        raise BadInputError(f"out={out}: the file exists; name another (it is never overwritten)")
    records = Expansion.of(settings).records()
    chosen = selection(settings.limit, settings.sample, settings.seed)
    if chosen is not None:
        records = chosen(records)
    partial = out.with_name(f".{out.name}.partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        with partial.open("wb") as handle:
            for record in records:
                handle.write(json_line(record.data))
                count += 1
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _expand(args: list[str]) -> int:
    outs = [a.removeprefix("out=") for a in args if a.startswith("out=")]
    overrides = [a for a in args if not a.startswith("out=")]
    if (
        len(outs) != 1
        or not outs[0]
        or any("=" not in a or a.startswith("-") for a in overrides)
        or not any(a.startswith("experiment=") for a in overrides)
    ):
        print(
            f"usage: {python_command()} -m runner.expand experiment=NAME out=FILE.jsonl "
            "[key=value ...]",
            file=sys.stderr,
        )
        return 2
    out = Path(outs[0]).expanduser()
    count = expand_to_file(overrides, out)
    print(visible(f"Wrote {count} prompt(s) to {out}. Nothing was sent."))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return cli.main(COMMAND, _expand, argv)


if __name__ == "__main__":
    sys.exit(main())
