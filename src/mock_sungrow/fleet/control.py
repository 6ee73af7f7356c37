"""The fleet's control API: one site at a time, or many at once, over JSON/HTTP.

Every route of a single server's control API (:mod:`mock_sungrow.frontends.control.api`)
is served for each site under ``/sites/{id}`` (``GET /sites/g1-3/state``,
``POST /sites/g1-3/faults``, ``GET /sites/g1-3/registers/input?address=5003&count=10``...),
by the very same handlers on that site's server. Fleet-wide:

* ``GET /info``: counts, the shard, the groups;
* ``GET /sites`` (``?group=``): every site served, as the endpoints file lists them;
* ``POST /faults``: a fault spec (as ``POST /faults`` of one server) plus the selection:
  ``"sites": [ids]`` or ``"fraction": 0.1`` with ``"seed"`` (the same seed picks the same
  sites), else every site; answers the sites chosen and each one's fault;
* ``GET /faults``: every active fault, with its ``site``; ``DELETE /faults``: clear them all;
* ``POST /reset``: reset every site.

The trusted-network guard and the error replies are the single server's.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mock_sungrow.diagnostics import Diagnostics
from mock_sungrow.faults.catalogue import KINDS
from mock_sungrow.faults.params import FaultSpecError, UnknownFaultKindError
from mock_sungrow.frontends.control.api import ControlApi
from mock_sungrow.frontends.control.app import Api, ControlFrontEnd, Owner
from mock_sungrow.frontends.control.parse import ApiError, json_response, read_body

if TYPE_CHECKING:
    from mock_sungrow.checks import Network
    from mock_sungrow.fleet.fleet import Fleet

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Keys of a fleet-wide ``POST /faults`` body that choose sites (the rest is the fault).
_SELECTION = ("sites", "fraction", "seed")


class FleetControlApi:
    """The handlers of the fleet's control API.

    It holds its fleet weakly, as the front end does: the running front ends are what a
    forgotten fleet's finalizer stops, so they must not keep the fleet alive themselves.
    """

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = weakref.ref(fleet)
        #: Set as the listener stops (the server API's handlers read theirs).
        self.stopping = False

    @property
    def fleet(self) -> Fleet:
        """The fleet served (a 503 once it is gone)."""
        fleet = self._fleet()
        if fleet is None:
            raise ApiError(503, "the fleet is stopping")
        return fleet

    def routes(self) -> list[web.RouteDef]:
        """Fleet-wide routes, then every single-server route under ``/sites/{site}``."""
        out = [
            web.get("/info", self.info),
            web.get("/sites", self.sites),
            web.get("/faults", self.list_faults),
            web.post("/faults", self.inject),
            web.delete("/faults", self.clear_faults),
            web.post("/reset", self.reset),
        ]
        for route in ControlApi(None).routes():  # type: ignore[arg-type]  # names only
            name = getattr(route.handler, "__name__", "")
            out.append(web.route(route.method, "/sites/{site}" + route.path,
                                 self._per_site(name)))
        return out

    def _per_site(self, name: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            site_id = request.match_info["site"]
            try:
                server = self.fleet.site(site_id)
            except LookupError as exc:
                raise ApiError(404, str(exc).strip("'\"")) from None
            method: Handler = getattr(ControlApi(server), name)
            return await method(request)

        handler.__name__ = name
        return handler

    async def info(self, request: web.Request) -> web.Response:
        """How many sites and inverters this process serves, its shard, the groups."""
        f = self.fleet
        groups: dict[str, dict[str, Any]] = {}
        for spec in f.site_specs:
            entry = groups.setdefault(spec.group, {"name": spec.group, "model": spec.model,
                                                   "sites": 0})
            entry["sites"] += 1
        return json_response({"sites": len(f.sites), "inverters": f.inverter_count,
                              "shard": list(f.shard), "clock": type(f.clock).__name__,
                              "groups": list(groups.values())})

    async def sites(self, request: web.Request) -> web.Response:
        """Every site served (``?group=`` one group's): id, group, model, serial, endpoints."""
        group = request.query.get("group")
        out = [self.fleet.describe_site(i) for i, spec in enumerate(self.fleet.site_specs)
               if group is None or spec.group == group]
        return json_response(out)

    async def list_faults(self, request: web.Request) -> web.Response:
        """Every active fault of every site, each with its ``site``."""
        out = [{"site": site_id, **fault}
               for site_id, server in zip(self.fleet.site_ids, self.fleet.sites, strict=True)
               for fault in server.faults.describe()]
        return json_response(out)

    async def inject(self, request: web.Request) -> web.Response:
        """A fault on the sites chosen (``sites``, or ``fraction`` + ``seed``; default all)."""
        body = await read_body(request)
        spec = {k: v for k, v in body.items() if k not in _SELECTION}
        sites = body.get("sites")
        if sites is not None and (not isinstance(sites, list)
                                  or not all(isinstance(s, str) for s in sites)):
            raise ApiError(422, "sites must be a list of site ids")
        seed = body.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ApiError(422, f"seed must be an integer; got {seed!r}")
        try:
            chosen = self.fleet.select(sites, body.get("fraction"), seed)
        except LookupError as exc:
            raise ApiError(404, str(exc).strip("'\"")) from None
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        try:
            faults = self.fleet.inject(spec, sites=[self.fleet.site_ids[i] for i in chosen])
        except UnknownFaultKindError as exc:
            raise ApiError(422, str(exc), kinds=sorted(KINDS)) from None
        except FaultSpecError as exc:
            raise ApiError(422, str(exc)) from None
        except ValueError as exc:  # a fault a site cannot carry out
            raise ApiError(422, str(exc)) from None
        return json_response({"sites": list(faults),
                              "faults": [{"site": s, **f.to_dict()} for s, f in faults.items()]},
                             status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        """Remove every fault of every site."""
        self.fleet.clear_faults()
        return json_response({"cleared": True})

    async def reset(self, request: web.Request) -> web.Response:
        """Reset every site: plants rebuilt, faults, pins and logs cleared, ports kept."""
        self.fleet.reset()
        return json_response({"reset": True})


class FleetControlFrontEnd(ControlFrontEnd):
    """The fleet's control API listener (on the fleet's loop, beside every site).

    The server's control API listener with the fleet's routes: the same guard, the same
    bounded stop (``abort``), the same per-route wrapping that keeps a stopped fleet from
    being held by aiohttp's cache.
    """

    label = "fleet control API"

    def __init__(self, fleet: Fleet, host: str, port: int,
                 trusted: Sequence[Network] | None = None) -> None:
        # No server: make_api and owner below stand in for what the base takes from one.
        super().__init__(None, host, port, trusted)  # type: ignore[arg-type]
        self._fleet_api = FleetControlApi(fleet)
        #: Handler errors of the fleet-wide routes (the sites' own go to each site's).
        self.diagnostics = Diagnostics()

    def make_api(self) -> Api:
        """The fleet's handlers."""
        return self._fleet_api

    def owner(self) -> Owner:
        """Handler errors of the fleet-wide routes are the fleet front end's own."""
        return self
