"""A run's providers: each api's made once, each account fingerprinted once.

The plan asks for a record's provider (to check the record) and for its credential (to
group it); the limits ask for the credential again (a key's own limit), and so does the
engine when an API refuses a key. One :class:`ProviderSet` answers all of them, so each api
has one provider and each (api, model) is fingerprinted once, whoever asks first.
"""

from __future__ import annotations

from runner.limits.quota import Accounting
from runner.prompts.records import PromptRecord
from runner.providers.base import Provider, ProviderContext, provider_class


class ProviderSet:
    """The providers of one run, by api, made from one context.

    Args:
        context: settings, environment and HTTP session every provider gets.
    """

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        # The providers made so far, by api: what the engine and the batch code take.
        self.providers: dict[str, Provider] = {}
        self._credentials: dict[tuple[str, str | None], str] = {}

    def provider(self, api: str) -> Provider:
        """The provider of ``api``: made on the first ask, the same object after."""
        found = self.providers.get(api)
        if found is None:
            found = self.providers[api] = provider_class(api)(self.context)
        return found

    def credential(self, record: PromptRecord) -> str:
        """A fingerprint of the account ``record`` is sent with (computed once per model).

        A record's account depends on its api and model only, and hashing it per record
        would cost every prompt a digest.
        """
        pair = (record.api, record.model_name)
        found = self._credentials.get(pair)
        if found is None:
            found = self._credentials[pair] = self.provider(record.api).credential(record)
        return found

    def max_concurrency(self, api: str) -> int | None:
        """The most requests in flight ``api`` takes, if its provider caps them."""
        return self.provider(api).max_concurrency

    def token_accounting(self) -> dict[str, Accounting]:
        """How each api's provider charges token limits (reserved or actual)."""
        return {api: p.token_accounting for api, p in self.providers.items()}
