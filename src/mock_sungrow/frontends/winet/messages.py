"""WiNet-S requests and replies on aiohttp: parameters, peers, JSON, what the fault layer sees.

Clients disagree on how they send parameters (query string, JSON body, form body); replies
are UTF-8 JSON as the dongle sends them. :func:`describe_http` and :func:`describe_ws` give the
fault layer its view of a request (the path or the service is its function).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from mock_sungrow.faults.spec import Request
from mock_sungrow.frontends.winet.listeners import dumps
from mock_sungrow.frontends.winet.protocol import MAX_MESSAGE, BadRequest, Reply, parse_frame


def _maybe_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


#: ``dev_id`` -> (the Modbus unit, the serial) of the device it names.
Locate = Callable[[int | None], tuple[int | None, str | None]]


def _no_device(dev_id: int | None) -> tuple[int | None, str | None]:
    return dev_id, None


def describe_http(request: web.Request, locate: Locate = _no_device,
                  endpoint: str | None = None) -> Request:
    """The fault layer's view of an HTTP request: the path is its function.

    A register read or write also says which table, address and count (documented numbers).
    ``locate`` turns the ``dev_id`` into the device's Modbus unit and serial, so a fault on
    unit 200 matches the battery's requests here as on Modbus; ``endpoint`` names the
    dongle's endpoint (``inverter[2].http``), whose connection memory the request shares.
    """
    req = _describe_http(request, locate)
    req.endpoint = endpoint
    return req


def _describe_http(request: web.Request, locate: Locate) -> Request:
    q = request.query
    path = request.path
    unit, device = locate(_maybe_int(q.get("dev_id")))
    if path == "/device/getParam" and q.get("type") == "3":
        kind = _maybe_int(q.get("param_type"))
        table = {0: "input", 1: "holding"}.get(kind) if kind is not None else None
        return Request("http", peer_of(request), unit, path, table,
                       _maybe_int(q.get("param_addr")), _maybe_int(q.get("param_num")) or 0,
                       device=device)
    if path == "/device/setParam":
        return Request("http", peer_of(request), unit, path, "holding",
                       _maybe_int(q.get("param_addr")), _maybe_int(q.get("param_size")) or 1,
                       write=True, device=device)
    return Request("http", peer_of(request), unit, path, device=device)


def describe_ws(text: str, peer: str, locate: Locate = _no_device,
                endpoint: str | None = None) -> Request:
    """The fault layer's view of a WebSocket frame: its service is its function."""
    try:
        frame = parse_frame(text)
    except BadRequest:  # not JSON, or outside the limits: the services answer it
        return describe_frame(None, peer, locate, endpoint)
    return describe_frame(frame, peer, locate, endpoint)


def decode_ws(text: str, peer: str, locate: Locate = _no_device, endpoint: str | None = None
              ) -> tuple[Request, dict[str, Any] | BadRequest]:
    """:func:`describe_ws`, and the decoded frame (or why it is not one) for the services."""
    frame: dict[str, Any] | BadRequest
    try:
        frame = parse_frame(text)
    except BadRequest as exc:
        frame = exc
    return describe_frame(frame if isinstance(frame, dict) else None, peer, locate,
                          endpoint), frame


def too_long(text: str) -> bool:
    """Whether a text frame is over :data:`MAX_MESSAGE` bytes of UTF-8."""
    return len(text) > MAX_MESSAGE // 4 and len(
        text.encode("utf-8", "surrogatepass")) > MAX_MESSAGE


def describe_frame(frame: dict[str, Any] | None, peer: str, locate: Locate = _no_device,
                   endpoint: str | None = None) -> Request:
    """:func:`describe_ws` of a frame decoded already (``None``: it was not a JSON object)."""
    if frame is None:
        req = Request("http", peer)
    else:
        service = frame.get("service")
        unit, device = locate(_maybe_int(frame.get("dev_id")))
        req = Request("http", peer, unit, service if isinstance(service, str) else None,
                      device=device)
    req.endpoint = endpoint
    return req


def peer_of(request: web.Request) -> str:
    """The client's ``host:port``."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peer[0]}:{peer[1]}" if peer else "-"


def json_reply(payload: Reply, status: int = 200) -> web.Response:
    """A JSON reply, UTF-8 as the dongle sends it."""
    return web.Response(text=dumps(payload), status=status, content_type="application/json",
                        charset="utf-8")


async def params_of(request: web.Request) -> dict[str, Any]:
    """Query parameters, overlaid by a JSON object body or a form body, whichever was sent.

    Clients disagree: bjeanes and sungrow-http-config post JSON, intelbras posts the same
    parameters in the query and as a form, everybody else uses the query string.
    """
    params: dict[str, Any] = dict(request.query)
    if not request.body_exists:  # read already (frontends/web.py): still there
        return params
    raw = await request.read()
    if not raw.strip():
        return params
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    if text.lstrip().startswith(("{", "[")) or request.content_type == "application/json":
        params.update(parse_frame(text))
        return params
    from urllib.parse import parse_qsl

    try:
        params.update(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise BadRequest("the body is neither JSON nor a form") from None
    return params
