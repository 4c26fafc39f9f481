"""Keys an API rejected: their remaining prompts are recorded ``not_sent`` instead of sent.

A 401 means the key itself is refused: no prompt sent with it can succeed, in any group.
A 403 means the key may not use that model: only that model's prompts stop, unless the
provider says the refusal is about something the prompt names (``prompt_only``: Gemini's
403 for a File API name it does not hold), which stops nothing else. Either way the
first answer is recorded as it came; sending the rest would only collect the same error
(and, on a paid key, may count against it). Log lines name the api and model, never the key
(keys are known here only as fingerprints).
"""

from __future__ import annotations

from collections.abc import Callable

from loguru import logger

from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord

KEY_REJECTED = 401
MODEL_FORBIDDEN = 403

# A record -> a fingerprint of the credentials it is sent with (never the key itself).
Credential = Callable[[PromptRecord], str]


class Rejections:
    """What the APIs refused so far, by credential (401) and by credential and model (403)."""

    def __init__(self, credential: Credential) -> None:
        self._credential = credential
        # The credential depends only on (api, model_name): resolve it once per pair.
        self._fingerprints: dict[tuple[str, str | None], str] = {}
        self._keys: dict[str, ProviderError] = {}
        self._models: dict[tuple[str, str | None], ProviderError] = {}

    def _fingerprint(self, record: PromptRecord) -> str:
        pair = (record.api, record.model_name)
        found = self._fingerprints.get(pair)
        if found is None:
            found = self._fingerprints[pair] = self._credential(record)
        return found

    def note(self, record: PromptRecord, error: ProviderError) -> None:
        """Take note of a failed request; a 401 or 403 stops the prompts it concerns."""
        if error.status not in (KEY_REJECTED, MODEL_FORBIDDEN) or error.prompt_only:
            return
        key = self._fingerprint(record)
        model = record.model_name or "(default model)"
        if error.status == KEY_REJECTED:
            if key in self._keys:
                return
            self._keys[key] = ProviderError(
                f"not sent: {record.api} rejected the API key (HTTP 401, first seen with model "
                f"{model}); fix the key and resume",
                ErrorKind.FATAL,
                KEY_REJECTED,
            )
            logger.error(
                "{}: the API key was rejected (HTTP 401) for model {}; the prompts left that "
                "use this key are not sent (fix the key, then resume)",
                record.api,
                model,
            )
            return
        pair = (key, record.model_name)
        if pair in self._models:
            return
        self._models[pair] = ProviderError(
            f"not sent: {record.api} refused model {model} for this API key (HTTP 403); "
            f"get access or choose another model, then resume",
            ErrorKind.FATAL,
            MODEL_FORBIDDEN,
        )
        logger.error(
            "{}: the API key may not use model {} (HTTP 403); the prompts left for this model "
            "with this key are not sent",
            record.api,
            model,
        )

    def blocked(self, record: PromptRecord) -> ProviderError | None:
        """Why ``record`` must not be sent, or None."""
        if not self._keys and not self._models:
            return None  # the usual case: no fingerprint to compute
        key = self._fingerprint(record)
        return self._keys.get(key) or self._models.get((key, record.model_name))
