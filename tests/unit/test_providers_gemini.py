"""api: gemini: the RetryInfo delay of an error body.

The in-process tests; the ones with servers or subprocesses are in
tests/integration/test_providers_gemini.py.
"""

from __future__ import annotations


def test_retry_info_delay_is_honoured() -> None:
    """A RESOURCE_EXHAUSTED body's RetryInfo gives the wait when no header does."""
    from runner.errors import ErrorKind
    from runner.providers.gemini import classify_gemini

    body = {
        "error": {
            "code": 429,
            "message": "Quota exceeded for metric generate_content_requests",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}],
        }
    }
    error = classify_gemini(429, body, "", {})
    assert error.kind is ErrorKind.RETRYABLE and error.retry_after == 37.0
    assert "RESOURCE_EXHAUSTED" in error.message
    unavailable = {"error": {"code": 500, "message": "x", "status": "UNAVAILABLE"}}
    assert classify_gemini(500, unavailable, "", {}).kind is ErrorKind.RETRYABLE
    denied = {"error": {"code": 403, "message": "no", "status": "PERMISSION_DENIED"}}
    assert classify_gemini(403, denied, "", {}).kind is ErrorKind.FATAL
