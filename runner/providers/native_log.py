"""Keep what llama.cpp prints while loading a model off the terminal.

``verbose=False`` silences llama-cpp-python's own logging, but parts of llama.cpp and ggml
write to file descriptor 2 directly (``llama_kv_cache_iswa: ...``). Around the load, fd 2
goes to a temporary file; afterwards llama.cpp's lines go to the log (run.log, DEBUG) and
anything else written meanwhile (another thread's warning) goes back to the terminal.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from loguru import logger

# How llama.cpp's and ggml's own messages begin (``llama_model_loader: ...``, ``load: ...``).
NATIVE_LINE = re.compile(
    r"^\s*(llama|llm|ggml|gguf|load|print_info|init|common|clip|main|build|system_info)\w*"
    r"|^\s*\.+\s*$|^\s*$"
)


@contextmanager
def native_stderr_to_log(what: str) -> Iterator[None]:
    """Capture fd 2 while the block runs; log llama.cpp's lines at DEBUG, replay the rest."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            _replay(capture.read().decode("utf-8", errors="replace"), what)


def _replay(text: str, what: str) -> None:
    others: list[str] = []
    for line in text.splitlines():
        if NATIVE_LINE.match(line):
            if line.strip():
                logger.debug("{}: {}", what, line.rstrip())
        else:
            others.append(line)
    if others:
        sys.stderr.write("\n".join(others) + "\n")
        sys.stderr.flush()
