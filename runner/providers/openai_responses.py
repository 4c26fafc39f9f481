"""OpenAI's Responses API (``POST /responses``), for ``openai`` and ``azure-openai``.

A record's parameters are written as for chat completions or as Responses takes them; the
chat spellings are converted (``max_tokens`` to ``max_output_tokens``, ``reasoning_effort``
to ``reasoning.effort``, ``response_format`` to ``text.format``, chat-form ``tools`` and
``tool_choice`` to their flat Responses form), so one experiment runs on either endpoint.
A leading system message becomes ``instructions``; the rest of the conversation becomes
``input`` items. See https://platform.openai.com/docs/api-reference/responses/create.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

from runner.config.schema import ModelConfig, RunConfig
from runner.errors import ErrorKind, ProviderError
from runner.prompts.records import PromptRecord
from runner.providers import media
from runner.providers.answer_parts import joined, tier_of, tool_call
from runner.providers.base import Completion, HttpClient
from runner.providers.http import PLAIN_JSON
from runner.providers.messages import Message, run_chat
from runner.providers.usage import read_usage

# Parameters with no meaning in a Responses request (streaming is asked by ``stream``).
_DROPPED = frozenset({"stream_options"})


def _models(settings: RunConfig) -> Iterator[ModelConfig]:
    """The models the settings chose: the run's, each judge's, the rephrasing one's."""
    if settings.model is not None:
        yield settings.model
    for step in settings.evaluation.values():
        if step.model_config is not None:
            yield step.model_config
    if settings.rephrase is not None and settings.rephrase.model_config is not None:
        yield settings.rephrase.model_config


def endpoint_for(settings: RunConfig, api: str, model_name: str | None, configured: str) -> str:
    """chat or responses for a model: its model yaml's ``endpoint``, else the api block's."""
    for model in _models(settings):
        if model.endpoint and model.api == api and model.model_name == model_name:
            return model.endpoint
    return configured


class Routes:
    """chat or responses, per model, for an api: looked up once per model.

    A model yaml's ``endpoint`` wins, else the api block's setting ``setting`` (read when
    first asked: the settings do not change in a run).
    """

    def __init__(self, settings: RunConfig, api: str, block: str, setting: str) -> None:
        self._settings, self._api, self._block, self._setting = settings, api, block, setting
        self._found: dict[str | None, str] = {}

    def __call__(self, model_name: str | None) -> str:
        """``chat`` or ``responses`` for ``model_name``."""
        found = self._found.get(model_name)
        if found is None:
            configured = getattr(getattr(self._settings.apis, self._block), self._setting)
            found = self._found[model_name] = endpoint_for(
                self._settings, self._api, model_name, configured
            )
        return found


async def send_responses(
    provider: HttpClient,
    record: PromptRecord,
    url: str,
    headers: Mapping[str, str],
    model: str,
    usage_provider: str = "openai",
) -> Completion:
    """Send a record of any prompt form to a ``/responses`` URL, one request per user turn.

    ``usage_provider`` reads the usage blocks (genai-prices' id: ``openai``, ``azure``).
    """
    context = provider.context
    media_dir = media.media_folder(context.settings)
    params = record.parameters

    async def send(messages: list[Message]) -> Completion:
        payload = responses_payload(messages, params, model, media_dir)
        if params.get("stream"):
            events = provider.post_stream(url, payload, headers=headers)
            return await collect_response_stream(events, usage_provider)
        body = await provider.post_json(url, payload, headers=headers)
        return parse_response(body, usage_provider)

    return await run_chat(record.prompt, send)


def responses_content(content: Any, role: str, media_dir: Path) -> Any:
    """A message's content as Responses input: text as is, parts as input_text / input_image."""
    if isinstance(content, str) or role != "user":
        return content if isinstance(content, str) else media.text_of(content)
    shaped: list[dict[str, Any]] = []
    for part in media.parts(content, media_dir):
        if isinstance(part, media.Text):
            shaped.append({"type": "input_text", "text": part.text})
        else:
            # Responses takes the URL as a string and requires detail (auto unless given).
            detail = part.detail or "auto"
            shaped.append({"type": "input_image", "image_url": part.data_url, "detail": detail})
    return shaped


def responses_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` in the Responses API's spelling (chat-completions spellings converted)."""
    out = {k: v for k, v in params.items() if k not in _DROPPED}
    for old in ("max_completion_tokens", "max_tokens"):
        if old in out:
            value = out.pop(old)
            out.setdefault("max_output_tokens", value)
    effort = out.pop("reasoning_effort", None)
    if effort is not None:
        out["reasoning"] = {"effort": effort, **(out.get("reasoning") or {})}
    response_format = out.pop("response_format", None)
    if isinstance(response_format, Mapping):
        text = dict(out.get("text") or {})
        text.setdefault("format", text_format(response_format))
        out["text"] = text
    if isinstance(out.get("tools"), list):
        out["tools"] = [_flat_tool(t) for t in out["tools"]]
    choice = out.get("tool_choice")
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        out["tool_choice"] = {"type": "function", "name": choice["function"].get("name")}
    return out


def text_format(response_format: Mapping[str, Any]) -> dict[str, Any]:
    """Chat's ``response_format`` as Responses' ``text.format``.

    ``{type: json_schema, json_schema: {name, schema, strict}}`` becomes
    ``{type: json_schema, name, schema, strict}``; ``json_object`` and ``text`` stay.
    """
    if response_format.get("type") != "json_schema":
        return dict(response_format)
    inner = response_format.get("json_schema")
    if not isinstance(inner, Mapping):  # already flat (written for Responses)
        return dict(response_format)
    return {"type": "json_schema", **inner}


def _flat_tool(tool: Any) -> Any:
    """A chat-form function tool ``{type, function: {...}}`` as Responses' flat one."""
    if isinstance(tool, Mapping) and isinstance(tool.get("function"), Mapping):
        return {"type": "function", **tool["function"]}
    return tool


def responses_payload(
    messages: list[Message], params: Mapping[str, Any], model: str, media_dir: Path
) -> dict[str, Any]:
    """The request body for a conversation (the chat history as ``input`` items)."""
    payload = responses_parameters(params)
    turns = list(messages)
    if turns and turns[0]["role"] == "system":
        payload.setdefault("instructions", media.text_of(turns.pop(0)["content"]))
    payload["input"] = [
        {"role": m["role"], "content": responses_content(m["content"], m["role"], media_dir)}
        for m in turns
    ]
    payload["model"] = model
    return payload


def parse_response(body: dict[str, Any], usage_provider: str = "openai") -> Completion:
    """A Completion from a ``response`` object: its message text, reasoning summary, calls.

    ``usage_provider``: whose usage block it is (genai-prices' id: ``openai``, ``azure``).
    """
    output = body.get("output")
    if not isinstance(output, list):
        raise ProviderError(f"the answer has no output: {str(body)[:200]}", ErrorKind.FATAL)
    texts: list[str] = []
    summary: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            texts += [
                str(c.get("text") or "")
                for c in item.get("content") or []
                if isinstance(c, dict) and c.get("type") == "output_text"
            ]
        elif kind == "reasoning":
            summary += [str(s.get("text") or "") for s in item.get("summary") or []]
        elif kind == "function_call":
            calls.append(tool_call(item.get("name"), item.get("arguments")))
    completion = Completion(
        text="".join(texts),
        finish_reason=_finish_reason(body, bool(calls)),
        model=body.get("model"),
        thinking=joined(summary),
        tool_calls=calls or None,
        service_tier=tier_of(body),
    )
    return read_usage(body, usage_provider, "responses").fill(completion)


def _finish_reason(body: Mapping[str, Any], called: bool) -> str | None:
    """Chat's words for how it ended: ``length`` when cut at max_output_tokens."""
    status = body.get("status")
    if status == "incomplete":
        reason = (body.get("incomplete_details") or {}).get("reason")
        return "length" if reason == "max_output_tokens" else str(reason or status)
    if status == "completed":
        return "tool_calls" if called else "stop"
    return None if status is None else str(status)


_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete"})


async def collect_response_stream(
    events: AsyncIterator[tuple[str, Any]], usage_provider: str = "openai"
) -> Completion:
    """A Completion from a streamed response: its final ``response.completed`` event.

    Raises:
        ProviderError: retryable when the stream stops before its final event (a dropped
            connection) or reports ``error`` / ``response.failed``.
    """
    deltas = 0
    async for event, data in events:
        if event == PLAIN_JSON:  # the server ignored stream: this is the whole answer
            return parse_response(data, usage_provider)
        kind = data.get("type", event) if isinstance(data, dict) else event
        if kind in _FINAL_EVENTS and isinstance(data, dict):
            return parse_response(data.get("response") or {}, usage_provider)
        if kind in ("error", "response.failed"):
            detail = data.get("error") or (data.get("response") or {}).get("error") or data
            raise ProviderError(f"stream error: {detail}", ErrorKind.RETRYABLE)
        deltas += 1
    raise ProviderError(
        f"the stream ended mid-answer after {deltas} event(s) (connection dropped)",
        ErrorKind.RETRYABLE,
    )
