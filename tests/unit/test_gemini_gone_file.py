"""A 403 is not always the key: Gemini's 403 for a File API name it does not hold.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_gemini_gone_file.py.
"""

from __future__ import annotations

from runner.errors import ErrorKind, ProviderError
from runner.providers.gemini import classify_gemini

GONE_BODY = {
    "error": {
        "code": 403,
        "message": "You do not have permission to access the File files/expired1 or it may "
        "not exist.",
        "status": "PERMISSION_DENIED",
    }
}


def test_the_403_for_a_missing_file_concerns_the_prompt_not_the_key() -> None:
    error = classify_gemini(403, GONE_BODY, "", {})
    assert isinstance(error, ProviderError) and error.kind is ErrorKind.FATAL
    assert error.prompt_only and "files/expired1" in str(error) and "48 hours" in str(error)
    other = {"error": {"code": 403, "message": "Permission denied", "status": "PERMISSION_DENIED"}}
    assert not classify_gemini(403, other, "", {}).prompt_only  # the key's: stops the model
