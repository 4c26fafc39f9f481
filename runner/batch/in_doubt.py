"""A create whose outcome is unknown: looked for by its tag, and waited out, before any other.

A create request that went out but whose answer never came back (a kill -9 while it ran, a
timeout, a dropped connection) may still be made by the provider: a slow create of a large
batch can still be running there when a resume starts, seconds later. Creating the chunk's
prompts again at once would make a second batch and pay them twice. So a chunk in doubt is
looked up by its tag, and when it is not there yet, looked up again every few seconds until
the create can no longer be running: ``timeout_s`` (the longest the request could have
waited for its answer) plus :data:`GRACE_S` after it was sent. Only then is it taken as
never made and its prompts are batched again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from runner.batch.adapter import BatchAdapter
    from runner.batch.calls import Calls

# After the create's own timeout, how long a provider may still take to make the batch.
GRACE_S = 30.0
# Between two look-ups of a chunk in doubt.
LOOK_AGAIN_S = 2.0


async def find_in_doubt(
    calls: Calls, adapter: BatchAdapter, model_name: str, tag: str, sent_at: float
) -> str | None:
    """The id of the batch created with ``tag`` (sent at epoch ``sent_at``), or None once
    the create can no longer be running and no batch carries the tag."""
    until = sent_at + calls.settings.timeout_s + GRACE_S
    told = False
    while True:
        found = await calls.call(lambda: adapter.find(model_name, tag), "find")
        if found is not None:
            return found
        left = until - calls.clock.wall().timestamp()
        if left <= 0:
            return None
        if not told:
            told = True
            logger.info(
                "batch mode: {}/{}: a batch create was sent without its answer; waiting up "
                "to {:.0f} s for it to appear before sending its prompts again",
                adapter.api,
                model_name,
                left,
            )
        await calls.clock.sleep(min(LOOK_AGAIN_S, left))
