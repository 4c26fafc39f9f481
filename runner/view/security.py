"""The viewer's guards: security headers with a strict Content-Security-Policy, the token.

Only requests addressed to 127.0.0.1, localhost or [::1] with the viewer's port are
answered. Pages carry no inline script at all (their code is ``/static/view.js``); a run's report
carries one inline script, Vega's bundle, allowed by its SHA-256 alone, so text from a
result can never run even if it reached the page unescaped. Vega compiles its expressions
with ``new Function``, hence ``'unsafe-eval'`` on the report only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from typing import Any

from aiohttp import web

TOKEN = web.AppKey("token", str)
# The Host headers the viewer answers (filled once its port is bound); any other is refused,
# so a page of another site whose name resolves to 127.0.0.1 (DNS rebinding) reads nothing.
HOSTS = web.AppKey("hosts", set[str])
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
CSRF = web.AppKey("csrf", str)
COOKIE = "runner_view_token"

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@functools.cache
def report_csp() -> str:
    """The policy of a served report: its one inline script (Vega's bundle) by hash."""
    from runner.report.render import embed_script

    body = "\n" + embed_script().replace("</script", "<\\/script") + "\n"
    digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
    return (
        f"default-src 'none'; script-src 'sha256-{digest}' 'unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )


@web.middleware
async def local_host_only(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer only requests addressed to this machine's own names, with the viewer's port."""
    hosts = request.app[HOSTS]
    if hosts and (request.headers.get("Host") or "").lower() not in hosts:
        return web.Response(
            status=403, text="This viewer answers only http://127.0.0.1 or localhost."
        )
    response: web.StreamResponse = await handler(request)
    return response


def _token_ok(request: web.Request) -> bool:
    token = request.app[TOKEN]
    if not token:
        return True
    given = request.query.get("token") or request.cookies.get(COOKIE) or ""
    return hmac.compare_digest(given.encode(), token.encode())


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuse a request without the token (when one is set); add the security headers."""
    if not _token_ok(request):
        return web.Response(
            status=403, text="This viewer needs its token: open the URL it printed."
        )
    response: web.StreamResponse = await handler(request)
    headers = response.headers
    headers.setdefault("Content-Security-Policy", PAGE_CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    token = request.app[TOKEN]
    if token and request.query.get("token") and isinstance(response, web.Response):
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
    return response


def check_csrf(request: web.Request, form: Any) -> None:
    """A write (a label) must come from a page this viewer drew: its form's secret matches."""
    given = str(form.get("csrf") or "")
    if not hmac.compare_digest(given.encode(), request.app[CSRF].encode()):
        raise web.HTTPForbidden(text="Stale or foreign form: reload the page and try again.")
