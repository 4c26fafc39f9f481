"""What one request holds on the budget, and what it is charged when it ends.

A request reserves its cost at an upper bound where one is known, an estimate learnt from
the bills where not:

* output: the answer's bound (``max_tokens``, ``max_completion_tokens``, Gemini's
  ``maxOutputTokens``, the api's default it sends; thinking budgets counted), each earlier
  answer of a multi-turn prompt again as input of every later turn
  (``runner.limits.tokens``);
* input: the provider's estimate (characters / 4), times the worst ratio of billed to
  estimated input tokens seen so far for the model and the prompt's shape (text, media,
  tools), with a margin (:data:`MARGIN`); at the cache-write price where the prompt asks
  Anthropic to cache (the dearest input rate it may be billed);
* until a shape's first answer says how it is billed, its requests go one at a time, the
  first reserved at :data:`FIRST_FACTOR` times its input estimate plus
  :data:`FIRST_MEDIA_TOKENS` per media part;
* an answer without a bound (no ``max_tokens``: ``output_tokens_estimate`` is a guess)
  is reserved at the longest answer its shape has given, with the margin, when that is
  more than the guess.

An attempt that may have been billed without an answer (a timeout, a dropped connection,
a 2xx answer that could not be read, a conversation that failed after its first turn) is
charged its reservation, never $0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.cost.budget import Budget
from runner.cost.bundled import service_tier
from runner.cost.prices import PriceBook
from runner.limits.quota import TokenEstimate
from runner.limits.tokens import answer_bound, turns
from runner.prompts.records import PromptRecord

if TYPE_CHECKING:
    from runner.output.results import Outcome

# Above the worst billed/estimated input ratio seen: prompts of one shape differ a little.
MARGIN = 1.25
# Anthropic bills a cache write at 1.25x the input price (5 minute cache) or 2x (1 hour):
# https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#pricing
CACHE_WRITE_5M = 1.25
CACHE_WRITE_1H = 2.0
_CACHE_WRITING_APIS = frozenset({"anthropic"})
# A shape's first request, before any bill says how its input is counted: its estimate
# (characters / 4) four times over, and each media part as a large image (Anthropic
# bills an image of 1.15 megapixels about 1,600 tokens; OpenAI's and Gemini's are fewer).
FIRST_FACTOR = 4.0
FIRST_MEDIA_TOKENS = 1600.0

Shape = tuple[str, str, bool, bool]
# Apis that send a default max_tokens when a prompt gives none (apis.<api>.default_max_tokens).
_DEFAULT_MAX_APIS = frozenset({"anthropic", "local"})


def shape_of(record: PromptRecord) -> Shape:
    """(api, model, has media parts, has tools): prompts whose input is billed alike."""
    prompt = record.prompt
    media = isinstance(prompt, list) and any(
        isinstance(m, Mapping) and not isinstance(m.get("content", ""), str) for m in prompt
    )
    params = record.parameters
    tools = "tools" in params or "functions" in params
    return (record.api, record.model_name or "", media, tools)


def media_parts(prompt: Any) -> int:
    """How many parts of a prompt are not text (images, audio, video, documents)."""
    if not isinstance(prompt, list):
        return 0
    count = 0
    for message in prompt:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):
            count += sum(
                1 for part in content if isinstance(part, Mapping) and part.get("type") != "text"
            )
    return count


def _cache_ttl(value: Any) -> str | None:
    """The longest ``cache_control`` ttl asked for anywhere in ``value`` (None: none)."""
    if isinstance(value, Mapping):
        control = value.get("cache_control")
        found = None
        if isinstance(control, Mapping):
            found = str(control.get("ttl") or "5m")
        for item in value.values():
            deeper = _cache_ttl(item)
            found = "1h" if "1h" in (found, deeper) else found or deeper
        return found
    if isinstance(value, list):
        found = None
        for item in value:
            deeper = _cache_ttl(item)
            found = "1h" if "1h" in (found, deeper) else found or deeper
        return found
    return None


def cache_write_factor(record: PromptRecord) -> float:
    """The input price multiplier of the cache writes a prompt may cause (1: none)."""
    if record.api not in _CACHE_WRITING_APIS:
        return 1.0
    ttl = _cache_ttl(record.data)
    if ttl is None:
        return 1.0
    return CACHE_WRITE_1H if ttl == "1h" else CACHE_WRITE_5M


def output_bounded(record: PromptRecord) -> bool:
    """Whether the most ``record``'s answers may take is known (a bound, not a guess)."""
    return record.api in _DEFAULT_MAX_APIS or answer_bound(record.parameters) is not None


def learnt_output(
    budget: Budget, record: PromptRecord, shape: Shape, tokens: TokenEstimate
) -> TokenEstimate:
    """``tokens`` with an unbounded answer at the longest its shape gave (with the margin).

    Without a bound the answer is a guess (``output_tokens_estimate``); a shape that
    answered longer is reserved at that length (each turn's answer, and each earlier one
    sent back, of a multi-turn prompt).
    """
    longest = budget.learnt_output.get(shape)
    if longest is None or output_bounded(record):
        return tokens
    n = turns(record)
    guess = tokens.output / n
    extra = longest * MARGIN - guess
    if extra <= 0:
        return tokens
    return TokenEstimate(tokens.input + extra * n * (n - 1) / 2, (guess + extra) * n)


def input_factor(budget: Budget, shape: Shape) -> float:
    """What the input estimate is multiplied by: the worst ratio seen, with a margin.

    A shape's first request (nothing learnt yet) is reserved at :data:`FIRST_FACTOR`.
    """
    learnt = budget.learnt.get(shape)
    return FIRST_FACTOR if learnt is None else max(1.0, learnt * MARGIN)


def reservation(
    prices: PriceBook, record: PromptRecord, tokens: TokenEstimate, factor: float, *, batch: bool
) -> float | None:
    """The most ``record`` should cost (None: no known price)."""
    tokens_in = tokens.input * factor
    if factor == FIRST_FACTOR:
        tokens_in += FIRST_MEDIA_TOKENS * media_parts(record.prompt)
    tokens_in *= cache_write_factor(record)
    model = record.model_name or ""
    tier = service_tier(record.parameters)
    return prices.cost_of(record.api, model, tokens_in, tokens.output, batch=batch, tier=tier)


def may_have_been_billed(outcome: Outcome) -> bool:
    """Whether an attempt without an answer may still be on the bill.

    A timeout or a dropped connection (no HTTP status) may have reached the model; a 2xx
    answer that could not be read (a body that is not JSON) was answered, so billed; a
    conversation that failed after its first turn was billed for the turns before.
    """
    error = outcome.error
    if outcome.completion is not None or error is None or outcome.cached:
        return False
    status = error.status
    return status is None or 200 <= status < 300 or turns(outcome.record) > 1


@dataclass
class Hold:
    """One attempt's reservation on ``budget``, settled once when the attempt ends."""

    budget: Budget
    line: str
    usd: float | None = None
    shape: Shape | None = None
    tokens: TokenEstimate | None = None
    probe: bool = False

    def release(self) -> None:
        """Nothing was sent: give the reservation back."""
        self.end_probe(learnt=None)
        self.budget.settle(self.usd, 0.0, self.line)

    def settle(self, outcome: Outcome) -> None:
        """Charge what ``outcome`` cost (its reservation when it may have been billed)."""
        charged = outcome.cost_usd
        if self.usd is not None and may_have_been_billed(outcome):
            charged = max(self.usd, charged or 0.0)
            self.budget.charged_unanswered += 1
        self.end_probe(self._ratio(outcome))
        self._learn_output(outcome)
        self.budget.settle(self.usd, charged, self.line)

    def _learn_output(self, outcome: Outcome) -> None:
        """Keep the longest answer (per turn) its shape gave, for unbounded reservations."""
        completion, shape = outcome.completion, self.shape
        if shape is None or completion is None or not completion.output_tokens:
            return
        per_turn = completion.output_tokens / turns(outcome.record)
        learnt = self.budget.learnt_output
        learnt[shape] = max(learnt.get(shape, 0.0), per_turn)

    def _ratio(self, outcome: Outcome) -> float | None:
        """Billed over estimated input tokens (1: answered without usage; None: no answer)."""
        completion = outcome.completion
        if completion is None or outcome.error is not None:
            return None
        if self.tokens is None or not completion.input_tokens or self.tokens.input <= 0:
            return 1.0
        return completion.input_tokens / self.tokens.input

    def end_probe(self, learnt: float | None) -> None:
        """End the shape's probe, keeping ``learnt`` (billed over estimated input) if known."""
        budget, shape = self.budget, self.shape
        if shape is None:
            return
        if learnt is not None:
            budget.learnt[shape] = max(budget.learnt.get(shape, 0.0), learnt)
        if self.probe:
            budget.probing.discard(shape)
            self.probe = False


async def hold(
    budget: Budget,
    prices: PriceBook,
    record: PromptRecord,
    tokens: Callable[[], TokenEstimate],
    line: str,
    stopped: Callable[[], bool],
) -> Hold | None:
    """Reserve an attempt of ``record`` on ``budget``; None: refused (or stopped).

    ``tokens``: the provider's estimate, asked only under a cap.
    """
    if budget.limit_usd is None:
        return Hold(budget, line)
    shape = shape_of(record)
    while shape not in budget.learnt and shape in budget.probing and not stopped():
        await budget.changed()  # the shape's first request tells how it is billed
    estimate = learnt_output(budget, record, shape, tokens())
    usd = reservation(prices, record, estimate, input_factor(budget, shape), batch=False)
    probe = shape not in budget.learnt
    if probe:
        budget.probing.add(shape)
    found = Hold(budget, line, usd, shape, estimate, probe)
    if not await budget.acquire(usd, stopped):
        found.end_probe(learnt=None)
        budget.wake()
        return None
    return found
