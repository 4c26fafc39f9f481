"""What pass one warns about without refusing: duplicate ids, input keys named like outputs."""

from __future__ import annotations

from runner.prompts.records import OUTPUT_FIELDS, PromptRecord
from runner.prompts.seen import SeenKeys


class Notes:
    """Duplicate ids and input keys named like output fields: warned about, not refused."""

    def __init__(self, keep: int) -> None:
        self.keep = keep  # renamed keys listed one by one; a broken file can have millions
        self.seen = SeenKeys()  # its keys on disk past a size (runner.prompts.seen)
        self.duplicates: dict[str, list[int]] = {}
        self.renamed: list[str] = []
        self.source = ""

    def see(self, record: PromptRecord) -> None:
        """Note ``record``'s keys and id; a repeated id's key is made unique."""
        self.source = record.source
        clashing = (
            ()
            if OUTPUT_FIELDS.isdisjoint(record.data)
            else sorted(OUTPUT_FIELDS.intersection(record.data))
        )
        if clashing and len(self.renamed) < self.keep:
            names = ", ".join(f"{k!r} as 'input_{k}'" for k in clashing)
            self.renamed.append(
                f"{record.where}: input key(s) named like output fields are kept as {names}"
            )
        first = self.seen.first_line(record.key, record.line)
        if first != record.line:
            if "id" in record.data:
                self.duplicates.setdefault(record.key, [first]).append(record.line)
            # Its own result and evaluation row: the key names the line too.
            record.make_key_unique()

    def close(self) -> None:
        """Let go of the keys seen (a temporary file past a size)."""
        self.seen.close()

    def warnings(self) -> list[str]:
        """The warnings, duplicate ids first."""
        found = [
            f"{self.source}: id {key!r} is on lines {', '.join(map(str, lines))}; each line "
            "is sent and scored on its own (later ones keyed <id>@line<N>)"
            for key, lines in self.duplicates.items()
        ]
        return found + self.renamed
