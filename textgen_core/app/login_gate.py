"""Deny by default: with a login set, every request but the login page's own
needs the login cookie, whatever route it names.

Gradio checks the login per route, so a stranger's request to a route without
that check, or to a path no route matches, gets a 404 or a 422 rather than a
401: harmless today, but one forgotten check away from an open door. This
ASGI middleware answers 401 to any request that is neither logged in nor on
the short list the login page needs (its shell, Gradio's own JS/CSS, theme,
icons). The /v1 API and /metrics check their own key (serve/api.py).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

# What the login page loads before anyone has logged in; none runs a function
# or returns data (tests/app/test_app_auth.py says why for each).
PUBLIC = {
    "/",
    "/login",
    "/login/",
    "/logout",
    "/favicon.ico",
    "/robots.txt",
    "/manifest.json",
    "/theme.css",
    "/openapi.json",
    "/pwa_icon",
    "/health",
    "/gradio_api/theme.css",
    "/gradio_api/user",
    "/gradio_api/user/",
    "/gradio_api/token",
    "/gradio_api/token/",
    "/gradio_api/app_id",
    "/gradio_api/app_id/",
    "/gradio_api/runs",
    "/gradio_api/runs/",
    "/gradio_api/startup-events",
}
PUBLIC_PREFIXES = (
    "/assets/",  # Gradio's own compiled frontend files
    "/svelte/",
    "/static/",
    "/pwa_icon/",
    "/gradio_api/heartbeat/",
)
OWN_KEY = ("/v1/", "/metrics")


class LoginGate:
    """ASGI middleware for a Gradio app launched with `auth=`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket") and not self._allowed(scope):
            response = JSONResponse({"detail": "Not authenticated"}, 401)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope) -> bool:
        path = scope["path"]
        if path in PUBLIC or path.startswith(PUBLIC_PREFIXES + OWN_KEY) or path == "/metrics":
            return True
        gradio = scope.get("app")
        if getattr(gradio, "auth", None) is None or gradio.auth_dependency is not None:
            return True  # no login set, or another scheme (OAuth) that Gradio checks itself
        cookies = HTTPConnection(scope).cookies
        token = cookies.get(f"access-token-{gradio.cookie_id}") or cookies.get(
            f"access-token-unsecure-{gradio.cookie_id}"
        )
        return token is not None and token in gradio.tokens
