"""One Starlette app serving the five simulated vendor APIs at their documented paths, plus control endpoints.

Each vendor's routes, formats and prices live in its own module (``enrichlayer_api.py``, ``lantern_api.py``,
``crustdata_api.py``, ``leadmagic_api.py``, ``pronto_api.py``); the request pipeline they share (auth, rate limits,
faults, charges, balance reads) is ``vendor_api.py``.

Balance endpoints (free, in the vendors' documented shapes): Enrich Layer ``GET /api/v2/credit-balance`` ->
``{"credit_balance": n}``, Crustdata ``GET /user/credits`` -> ``{"credits": n}``, LeadMagic ``GET /v1/credits`` ->
``{"credits": n, ...}`` with ``X-Credits-Remaining``. Lantern and Pronto document none; for Lantern the sandbox serves
a stand-in, ``GET /v1/enrich/credits`` -> ``{"credits_remaining": n}`` (the field its error bodies carry), that only a
config with ``providers.lantern.balance_path`` set reads: the way to exercise the check for a vendor whose account
gives you a balance endpoint the public documents do not.

Control endpoints: ``GET /_sandbox/stats``, ``GET|POST /_sandbox/config``,
``POST /_sandbox/reset`` (``{"config": true}`` also restores the initial config
and balances), ``GET /_sandbox/health``.
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from enrichment_assets.sandbox.crustdata_api import CrustdataAPI
from enrichment_assets.sandbox.enrichlayer_api import EnrichLayerAPI
from enrichment_assets.sandbox.lantern_api import LanternAPI
from enrichment_assets.sandbox.leadmagic_api import LeadMagicAPI
from enrichment_assets.sandbox.pronto_api import ProntoAPI
from enrichment_assets.sandbox.state import SandboxState
from enrichment_assets.sandbox.vendor_api import VendorAPI

VENDOR_APIS: dict[str, type[VendorAPI]] = {
    cls.name: cls for cls in (EnrichLayerAPI, LanternAPI, CrustdataAPI, LeadMagicAPI, ProntoAPI)
}

#: Paths each vendor is served at (all on the sandbox's one origin).
VENDOR_PATHS: dict[str, tuple[str, ...]] = {name: cls.paths for name, cls in VENDOR_APIS.items()}

#: Balance endpoints (GET), per vendor that documents one, and Lantern's stand-in (not in its documents).
BALANCE_PATHS: dict[str, str] = {name: cls.balance_path for name, cls in VENDOR_APIS.items() if cls.balance_path}


def create_app(state: SandboxState) -> Starlette:
    """The sandbox ASGI app over ``state`` (``app.state.sandbox`` is the state)."""

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def get_config(request: Request) -> Response:
        return JSONResponse(state.config.public_dump())

    async def patch_config(request: Request) -> Response:
        try:
            patch = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, 400)
        if not isinstance(patch, dict):
            return JSONResponse({"error": "body must be a JSON object"}, 400)
        try:
            config = state.patch_config(patch)
        except ValidationError as exc:
            errors = [{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()]
            return JSONResponse({"error": "invalid config", "errors": errors}, 400)
        return JSONResponse(config.public_dump())

    async def reset(request: Request) -> Response:
        raw = await request.body()
        try:
            options = json.loads(raw) if raw.strip() else {}
        except ValueError:
            options = {}
        flag = request.query_params.get("config", "").lower() in ("1", "true", "yes")
        state.reset(restore_config=flag or bool(isinstance(options, dict) and options.get("config")))
        return JSONResponse(state.stats())

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "world_size": len(state.world)})

    async def index(request: Request) -> Response:
        return JSONResponse({"sandbox": "enrichment_assets vendor sandbox",
                             "vendors": {k: list(v) for k, v in VENDOR_PATHS.items()}})

    routes = [Route("/", index), Route("/_sandbox/health", health), Route("/_sandbox/stats", stats),
              Route("/_sandbox/config", get_config, methods=["GET"]),
              Route("/_sandbox/config", patch_config, methods=["POST", "PATCH"]),
              Route("/_sandbox/reset", reset, methods=["POST"])]
    for api_class in VENDOR_APIS.values():
        api = api_class(state)
        routes.extend(Route(path, api.endpoint, methods=[api.method]) for path in api.paths)
        if api.balance_path is not None:
            routes.append(Route(api.balance_path, api.balance, methods=["GET"]))
    app = Starlette(routes=routes)
    app.state.sandbox = state
    return app
