"""The provider contract: one small interface that every API implements.

A provider turns a record into a request, sends it, and returns a :class:`Completion`, or
raises :class:`runner.errors.ProviderError` classified as retryable, fatal or quota. The
engine, never the provider, decides whether and when to retry.
"""

from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from runner.config.schema import RunConfig
from runner.limits.quota import Accounting, TokenEstimate, Usage
from runner.limits.tokens import estimate_split
from runner.prompts.records import PromptRecord
from runner.providers.completion import Completion, token_count
from runner.providers.env import env_name_for_model, model_variable, setting_or_env
from runner.providers.http import Classifier, post_json, post_stream
from runner.providers.registry import known_apis, provider_class, register
from runner.redaction import public_url

# Spelled here too: provider modules import the contract and its helpers from one place.
__all__ = [
    "Completion",
    "HttpClient",
    "HttpProvider",
    "Provider",
    "ProviderContext",
    "env_name_for_model",
    "known_apis",
    "model_variable",
    "parameters_without",
    "provider_class",
    "register",
    "setting_or_env",
    "token_count",
]


@functools.lru_cache(maxsize=8)
def _timeout(total_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total_s)


@dataclass
class ProviderContext:
    """What providers get from the run: one HTTP session, the settings, the environment."""

    settings: RunConfig
    session: aiohttp.ClientSession | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    # The run sending (its response-cache lookups are kept for ``explain``); "" for none.
    run_id: str = ""

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        """Each request's timeout (``timeout_s``); one object, asked for by every request."""
        return _timeout(self.settings.timeout_s)

    def http(self) -> aiohttp.ClientSession:
        """The run's one HTTP session."""
        if self.session is None:
            raise RuntimeError("this provider needs the run's HTTP session, and none was given")
        return self.session


class Provider(ABC):
    """One API. Subclasses set ``api`` and implement :meth:`complete`."""

    api: ClassVar[str]
    # Whether the provider calls HTTP APIs (and so needs the run's session).
    uses_http: ClassVar[bool] = True
    # The most requests it can serve at once (None: as many as the group allows).
    max_concurrency: ClassVar[int | None] = None
    # How the API charges token limits: reserved (the estimate, never refunded) or actual
    # (corrected by the usage it reports); see runner.limits.quota.
    token_accounting: ClassVar[Accounting] = Accounting.RESERVED
    # Servers that load one model at a time: their prompts are sent model by model.
    sends_model_by_model: ClassVar[bool] = False
    # Whether the API has a quota to pace for; without one (the local model) a group gets
    # no default limit (max_queries unset), only the one the user sets.
    has_quota: ClassVar[bool] = True

    # What the provider declares beside its code (runner.providers.registry reads it):
    # its settings block ``apis.<settings_block>`` ("": the api, "-" as "_"), a dataclass
    # whose defaults conf/api/<settings_block>.yaml may override, and a help line per field.
    settings_block: ClassVar[str] = ""
    settings_class: ClassVar[type | None] = None
    settings_help: ClassVar[Mapping[str, str]] = {}
    # genai-prices' provider id its models are priced by (None: unknown unless configured),
    # and whether it runs on the user's own machine (then it costs 0).
    price_provider: ClassVar[str | None] = None
    free: ClassVar[bool] = False
    # genai-prices' provider whose usage extractor reads its answers (None: the provider
    # reads its own usage into the Completion).
    usage_provider: ClassVar[str | None] = None
    # The form it takes a JSON Schema in (runner.prompts.output_styles; None: none).
    structured_output: ClassVar[str | None] = None
    # Its batch adapter as "module:Class", imported only in batch mode (None: online only).
    batch_adapter: ClassVar[str | None] = None

    def __init__(self, context: ProviderContext) -> None:
        self.context = context

    def settings(self) -> Any:
        """This provider's settings block, ``apis.<settings_block>`` of the run's settings."""
        return getattr(self.context.settings.apis, self.settings_block)

    def problems(self, record: PromptRecord) -> list[str]:
        """What stops this record from being sent (a missing key, ...), without sending."""
        return []

    def estimate_tokens(self, record: PromptRecord) -> TokenEstimate:
        """A request's tokens before sending, by this API's rule (default: chars / 4)."""
        return estimate_split(record, self.context.settings.output_tokens_estimate)

    def credential_parts(self, model_name: str | None) -> list[str]:
        """What the account of ``model_name``'s requests is (where to, with which key)."""
        return []

    def limit_usage(self, completion: Completion, model_name: str | None) -> Usage:
        """What an answer counts against token limits with ``actual`` accounting.

        Default: the billed counts (input with cache reads and writes, output with
        reasoning). A provider whose limits leave some of them out says so here.
        """
        return Usage(completion.input_tokens, completion.output_tokens)

    def credential(self, record: PromptRecord) -> str:
        """What identifies the account ``record`` is sent with (hashed before any use).

        Runs whose groups send with the same credentials share those groups' limits: the
        api and its :meth:`credential_parts` for the record's model, hashed at once.
        """
        parts = [self.api, *self.credential_parts(record.model_name)]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]

    def cache_identity(self, model_name: str | None) -> dict[str, Any]:
        """What, beside the record, decides the answer (part of the response cache's key).

        Never a key or a secret: the cache file must hold none. Default: nothing more.
        """
        return {}

    @abstractmethod
    async def complete(self, record: PromptRecord) -> Completion:
        """Send one prompt and return the answer.

        Raises:
            ProviderError: the request failed; its ``kind`` tells the engine what to do.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release what the provider holds (models, files); the session is not its own."""


class HttpClient(Provider):
    """A provider that sends JSON over the run's session, as an httpx client would.

    :meth:`post_json` and :meth:`post_stream` carry the session, the timeout (``timeout_s``)
    and the API's ``error_classifier`` (None: :func:`runner.providers.http.classify_status`),
    so call sites pass only what the request is.
    """

    error_classifier: ClassVar[Classifier | None] = None

    def post_json(
        self,
        url: str,
        payload: Mapping[str, Any],
        *,
        headers: Mapping[str, str],
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        """POST ``payload``; the JSON answer (see :func:`runner.providers.http.post_json`)."""
        # Returns the helper's coroutine itself: no extra frame on every prompt's path.
        context = self.context
        return post_json(
            context.http(),
            url,
            payload,
            headers=headers,
            timeout=context.timeout if timeout is None else timeout,
            classify=type(self).error_classifier,
        )

    def post_stream(
        self, url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str]
    ) -> AsyncIterator[tuple[str, Any]]:
        """POST ``payload``; its events (as :func:`runner.providers.http.post_stream`)."""
        context = self.context
        return post_stream(
            context.http(),
            url,
            payload,
            headers=headers,
            timeout=context.timeout,
            classify=type(self).error_classifier,
        )


class HttpProvider(HttpClient):
    """A provider of an HTTP API whose key and URL come from settings or the environment.

    Subclasses declare where those are: ``settings_class`` (the block ``apis.<name>``),
    ``key_env`` and ``url_env`` (variables; ``<VAR>_<model_name>`` wins, as in prompto),
    ``url_setting`` (``base_url`` or ``endpoint``) and ``default_url``. The shared-limit
    identity (:meth:`credential_parts`) is built from these, never from a key on disk.
    """

    key_env: ClassVar[str | None] = None
    url_env: ClassVar[str]
    url_setting: ClassVar[str] = "base_url"
    default_url: ClassVar[str | None] = None

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        # Resolved once per model: the environment and settings do not change in a run,
        # and every request needs them (os.environ lookups are not free).
        self._keys: dict[str | None, str | None] = {}
        self._urls: dict[str | None, str | None] = {}

    def key(self, model_name: str | None) -> str | None:
        """The API key ``model_name``'s requests are sent with (None: none configured)."""
        if self.key_env is None:
            return None
        if model_name not in self._keys:
            configured = getattr(self.settings(), "api_key", None)
            self._keys[model_name] = setting_or_env(
                self.context.env, configured, self.key_env, model_name
            )
        return self._keys[model_name]

    def base_url(self, model_name: str | None) -> str | None:
        """Where ``model_name``'s requests go (the configured URL; None: none configured)."""
        return self._url(model_name)

    def _url(self, model_name: str | None) -> str | None:
        # The configured URL, never a subclass's reading of it: the shared-limit and cache
        # identities are built from this one.
        if model_name not in self._urls:
            configured = getattr(self.settings(), self.url_setting, None)
            url = setting_or_env(self.context.env, configured, self.url_env, model_name)
            url = url or self.default_url
            self._urls[model_name] = url.rstrip("/") if url else None
        return self._urls[model_name]

    def credential_parts(self, model_name: str | None) -> list[str]:
        return [self._url(model_name) or "", self.key(model_name) or ""]

    def url_login_problems(self, model_name: str | None) -> list[str]:
        """A URL's ``user:password@`` beside a key sent as ``Authorization``: one must go.

        aiohttp refuses to send both, so every request failed as an "internal error"
        with a traceback per prompt, after the run had started.
        """
        url = self._url(model_name)
        if not url or "@" not in url or not self.key(model_name):
            return []
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return []
        return [
            f"apis.{self.settings_block}.{self.url_setting} (or ${self.url_env}) "
            f"{public_url(url)!r} carries a user:password@ and the API key goes in the "
            "Authorization header: only one can be sent; take the login out of the URL "
            "or unset the key"
        ]

    def cache_identity(self, model_name: str | None) -> dict[str, Any]:
        """The endpoint and the block's settings that shape the request (never the key)."""
        block = self.settings()
        shaping = {
            name: value
            for name, value in vars(block).items()
            if name not in _NOT_SHAPING and isinstance(value, str | int | float | bool)
        }
        # A password or key in the URL is no part of what is asked, and the cache file
        # must not hold it.
        return {"url": public_url(self._url(model_name) or ""), **shaping}


# Settings of an api block that never change what is sent (or are secrets).
_NOT_SHAPING = frozenset({"api_key", "base_url", "endpoint", "project_id"})


def parameters_without(params: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """A copy of ``params`` without the given keys."""
    return {k: v for k, v in params.items() if k not in names}
