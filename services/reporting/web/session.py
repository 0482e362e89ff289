"""Signing in to the console: a reporting key (staff, supervisor or admin) typed once into the
login form is kept in an HttpOnly, SameSite=Strict cookie scoped to /console, and checked on
every console request like a key in a header (revoking the key ends the session at once). A key
covers its area only: every console page filters by `key.area`.

`console(*roles)` is the pages' dependency: the signed-in key if its role may see the page; no
or a stale cookie sends a browser to the login form (a script's request gets 401); a wrong role
is a 403. A request that changes something must come from the console's own pages (Origin)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.reporting.auth import KEYS, ApiKey, Role
from services.reporting.web.pages import render
from shared.apikeys import PUBLIC, for_audience, refuse_role
from shared.http import Problem, problem_response

COOKIE = "jiesu_console"
LOGIN_PATH = "/console/login"
LOGIN_ATTEMPTS_PER_MINUTE = 20  # per client address: guessing keys costs time

router = APIRouter(include_in_schema=False)


class LoginNeeded(Exception):
    """No console session, or its key is unknown or revoked."""


def console(*roles: Role) -> Any:
    """A FastAPI dependency: the signed-in key, if it may act as one of `roles` (admin always)."""
    audience = KEYS.audience(*roles)

    async def signed_in(request: Request) -> ApiKey:
        secret = request.cookies.get(COOKIE)
        if not secret:
            raise LoginNeeded
        try:
            key = await KEYS.authenticate(request, secret)
        except Problem as refused:
            if refused.status == 429:
                raise
            raise LoginNeeded from refused
        if not KEYS.admits(key.role, roles):
            raise refuse_role(key.name, key.role.value, audience)
        if request.method not in ("GET", "HEAD"):
            _same_origin(request)
        return key

    return for_audience(signed_in, *audience, key_in_cookie=True)


def _same_origin(request: Request) -> None:
    """A change must come from the console's own page (SameSite=Strict already keeps other
    sites' requests from carrying the cookie; this is the second lock)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or urlsplit(origin).netloc != request.headers.get("host"):
        raise Problem(403, "请求须来自控制台页面 Changes must come from the console's pages")


Anyone = Annotated[ApiKey, console(Role.STAFF, Role.SUPERVISOR)]  # any console key, its area
CityWide = Annotated[ApiKey, console(Role.SUPERVISOR)]  # supervisors (city or area) and admins
Admin = Annotated[ApiKey, console(Role.ADMIN)]


async def login_needed(request: Request, _: Exception) -> Response:
    if request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{LOGIN_PATH}?next={quote(target)}", status_code=303)
    return problem_response(401, "需要登录控制台 Sign in to the console first")


def _next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


@router.get(LOGIN_PATH, dependencies=[PUBLIC])
async def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "console/login.html", next=_next(next), error=None)


@router.post(LOGIN_PATH, dependencies=[PUBLIC])
async def login(
    request: Request,
    key: Annotated[str, Form(max_length=200)],
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    runtime = request.app.state.runtime
    client = request.client.host if request.client else "unknown"
    await runtime.limiter.check(f"console-login:{client}", LOGIN_ATTEMPTS_PER_MINUTE)
    try:
        await KEYS.authenticate(request, key.strip())
    except Problem as refused:
        if refused.status == 429:
            raise
        return render(
            request,
            "console/login.html",
            status_code=401,
            next=_next(next),
            error="密钥无效或已吊销 Unknown or revoked key",
        )
    response = RedirectResponse(_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        key.strip(),
        httponly=True,
        samesite="strict",
        secure=bool(runtime.settings.console_cookie_secure),
        path="/console",
    )
    return response


@router.post("/console/logout", dependencies=[PUBLIC])
async def logout() -> Response:
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response
