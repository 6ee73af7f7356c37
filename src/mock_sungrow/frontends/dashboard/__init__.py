"""The dashboard: a page served at ``/`` by the control API, for a person to watch and steer.

Someone who opens the URL the CLI's ready line advertises wants to see why their integration
shows zero: the plant's flows and counters, what their client asks for, which fault fired;
and to flip a fault or move the clock with a click. The page is static HTML, CSS and vanilla
JavaScript shipped in this package (``static/``, package data): no build step, nothing
fetched from another site at run time (its Content-Security-Policy allows this origin only),
no third-party code. It calls the control API's own JSON routes and holds one server-sent
event stream (``GET /events``, :mod:`mock_sungrow.frontends.control.live`); it works the same
on a fleet's control API, under ``/sites/{id}``.

The page and its assets go through the control API's guard like every route: trusted
networks, Host and Origin checks, the read-only switch (under which the page hides its
controls). They are left out of the OpenAPI document, which describes the JSON API.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from aiohttp import web

#: The files the page loads, with their media types.
ASSETS = {"util.js": "text/javascript", "views.js": "text/javascript",
          "app.js": "text/javascript", "style.css": "text/css"}
#: Nothing but this origin: no CDN, no inline script, no framing by another page (a control
#: page in a frame could be clicked through by that page).
HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def asset(name: str) -> bytes:
    """A file of ``static/`` (read once: the package does not change while it runs)."""
    return resources.files(__package__).joinpath("static").joinpath(name).read_bytes()


async def page(request: web.Request) -> web.Response:
    """The dashboard's HTML."""
    return web.Response(body=asset("index.html"), content_type="text/html", charset="utf-8",
                        headers=HEADERS)


async def static(request: web.Request) -> web.Response:
    """One of the page's scripts or style sheets (404 for anything else)."""
    name = request.match_info["name"]
    media = ASSETS.get(name)
    if media is None:
        raise web.HTTPNotFound(reason=f"no dashboard file {name[:60]!r}")
    return web.Response(body=asset(name), content_type=media, charset="utf-8",
                        headers=HEADERS)


#: The routes that are the page, not the JSON API (the OpenAPI document leaves them out).
PAGE_PATHS = ("/", "/dashboard/{name}")


def routes() -> list[web.RouteDef]:
    """The page and its assets."""
    return [web.get("/", page), web.get("/dashboard/{name}", static)]
