"""A run id, resume or experiment name names one folder: a path, or a name too long, is one line.

A run id of 300 characters once got "the configuration is invalid: OSError raised while
resolving interpolation: [Errno 36] File name too long ... full_key: hydra.run.dir".
"""

from __future__ import annotations

import pytest

from runner.errors import ConfigError
from runner.run_dirs import MAX_NAME_BYTES, check_name


@pytest.mark.parametrize("value", ["", ".", "..", "a/b", "a\\b", "a\0b"])
def test_a_path_is_not_a_name(value: str) -> None:
    with pytest.raises(ConfigError, match="is not a name"):
        check_name("run_id", value)


def test_a_name_too_long_for_a_folder_says_its_length() -> None:
    check_name("run_id", "x" * MAX_NAME_BYTES)
    with pytest.raises(
        ConfigError, match=r"run_id='x+'\.\.\. is too long .*\(201 bytes; at most 200\)"
    ):
        check_name("run_id", "x" * (MAX_NAME_BYTES + 1))
    with pytest.raises(ConfigError, match=r"\(202 bytes"):  # counted in bytes: 101 x 'ü'
        check_name("experiment", "\u00fc" * 101)
