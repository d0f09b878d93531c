"""The codec endpoint the Temporal UI calls to show encrypted payloads decoded.

    POST /codec/decode   {"payloads": [{"metadata": {...}, "data": "..."}]}
    POST /codec/encode   (the same shape)

The Temporal codec-server protocol: the body is ``temporal.api.common.v1.Payloads``
in protobuf JSON (bytes as base64), the answer the same with each payload opened
(or sealed) by ``workers.adapters.payload_codec``. The UI calls from the browser,
so the endpoint answers CORS: a preflight (OPTIONS) from an allowed origin (the
local UI, ``http://localhost:<ui port>`` and ``http://127.0.0.1:<ui port>``, and
those in ``PLAYBOOK_CODEC_ORIGINS``, comma-separated) is allowed without a
credential, as browsers send none with it; every POST needs the operator
credential (``workers.web.operators``; the UI passes it as its access token, or
the browser's Basic credentials when "include cross-origin credentials" is on):
401 without, and nothing is decoded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from temporalio.api.common.v1 import Payloads

from workers.adapters.payload_codec import CodecKeyError, EncryptionCodec
from workers.settings import Settings
from workers.web import operators

ORIGINS_ENV = "PLAYBOOK_CODEC_ORIGINS"
_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace, " + operators.SECRET_HEADER
MAX_CODEC_BODY = 4 * 1024 * 1024  # a history page's payloads


def allowed_origins(settings: Settings) -> frozenset[str]:
    """The origins whose pages may call the codec endpoint."""
    ui = settings.temporal_ui_port
    given = [o.strip().rstrip("/") for o in os.environ.get(ORIGINS_ENV, "").split(",")]
    return frozenset([f"http://localhost:{ui}", f"http://127.0.0.1:{ui}", *filter(None, given)])


def cors_headers(request: Request, origins: frozenset[str]) -> dict[str, str]:
    """The CORS answer for the request's origin (none for an origin not allowed)."""
    origin = request.headers.get("origin", "")
    if origin not in origins:
        return {"Vary": "Origin"}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


Handler = Callable[[Request], Awaitable[Response]]


def codec_route(
    codec: Callable[[], EncryptionCodec], secret: Callable[[], str], settings: Settings
) -> Handler:
    """The handler of ``/codec/{direction}`` (``decode`` or ``encode``)."""
    origins = allowed_origins(settings)

    async def handle(request: Request) -> Response:
        cors = cors_headers(request, origins)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=cors)
        if not operators.authorised(request, secret()):
            return JSONResponse({"error": "the codec needs the operator credential"}, 401, cors)
        direction = request.path_params["direction"]
        if direction not in ("decode", "encode"):
            return JSONResponse({"error": "POST /codec/decode or /codec/encode"}, 404, cors)
        body = await request.body()
        if len(body) > MAX_CODEC_BODY:
            return JSONResponse({"error": "the body is too large"}, 413, cors)
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, DecodeError, UnicodeDecodeError, ValueError):
            return JSONResponse({"error": "the body is not Payloads in protobuf JSON"}, 400, cors)
        try:
            work = codec().decode if direction == "decode" else codec().encode
            done = Payloads(payloads=await work(list(payloads.payloads)))
        except CodecKeyError as error:
            return JSONResponse({"error": str(error)}, 422, cors)
        text = json_format.MessageToJson(done, preserving_proto_field_name=True)
        return Response(json.dumps(json.loads(text)), 200, cors, media_type="application/json")

    return handle
