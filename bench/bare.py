"""The practical limit: a bare aiohttp loop sending an experiment's prompts, keeping answers.

``python -m bench.bare INPUT OUTPUT BASE_URL CONCURRENCY`` reads the experiment, POSTs the
same chat-completions bodies runner sends through one ``ClientSession`` with a semaphore,
parses each JSON answer and writes one JSON line per prompt to OUTPUT (the record plus the
reply, as runner does). No pacing, no retries, no checks. Prints ``{"ok": N, "send_s": T}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp


async def send_all(
    records: list[dict[str, Any]], output: Path, base_url: str, concurrency: int, key: str
) -> int:
    """Send every record, write every answer; the number that came back 200."""
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {key}"}
    gate = asyncio.Semaphore(concurrency)
    ok = 0
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    with output.open("w", encoding="utf-8") as sink:
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(record: dict[str, Any]) -> None:
                nonlocal ok
                payload = {
                    **record.get("parameters", {}),
                    "messages": [{"role": "user", "content": record["prompt"]}],
                    "model": record["model_name"],
                }
                async with gate, session.post(url, json=payload, headers=headers) as resp:
                    body = json.loads(await resp.read())
                    status = resp.status
                text = body["choices"][0]["message"]["content"] if status == 200 else None
                ok += status == 200
                sink.write(json.dumps({**record, "response": text, "status": status}) + "\n")

            await asyncio.gather(*(one(r) for r in records))
    return ok


def main(argv: list[str]) -> int:
    """Run the loop on the command line's arguments."""
    input_file, output, base_url, concurrency = argv
    with open(input_file, encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    started = time.perf_counter()
    key = os.environ.get("OPENAI_API_KEY", "dummy")
    ok = asyncio.run(send_all(records, Path(output), base_url, int(concurrency), key))
    print(json.dumps({"ok": ok, "send_s": time.perf_counter() - started}))
    return 0 if ok == len(records) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
