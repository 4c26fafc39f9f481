"""Headless Chromium (Debian's package) driven by Playwright, for the report and viewer tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_page(*, offline: bool = False) -> Iterator[Any]:
    """A fresh page; with ``offline``, every request that is not a local file is aborted."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (make test installs it with apt-get)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (dev extra)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.blocked = []
            if offline:

                def block(route: Any) -> None:
                    if route.request.url.startswith("file://"):
                        route.continue_()
                    else:
                        page.blocked.append(route.request.url)
                        route.abort()

                page.route("**/*", block)
            yield page
        finally:
            browser.close()


def drawn_charts(page: Any, timeout_ms: float = 15_000) -> list[int]:
    """Wait until the report drew its charts; the SVG element count of every chart."""
    page.wait_for_function(
        "document.body.dataset.charts && document.body.dataset.charts.length > 0",
        timeout=timeout_ms,
    )
    state = page.evaluate("document.body.dataset.charts")
    assert state.startswith("drawn"), state
    counts: list[int] = page.eval_on_selector_all(
        ".chart", "els => els.map(e => e.querySelectorAll('svg *').length)"
    )
    return counts
