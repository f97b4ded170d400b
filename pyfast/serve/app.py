"""The FastAPI application: HTTP endpoints, the webcam WebSocket and the page at ``/``."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from .batcher import BatcherClosed, QueueFull
from .codec import MEDIA_TYPES, ImageError
from .config import ServeConfig
from .models import ModelStore, UnknownModel
from .service import RequestTimeout, StyleRequest, StyleService

STATIC_DIR = Path(__file__).parent / "static"
RETRY_AFTER_S = 1
# Body types taken as an image (the bytes are sniffed anyway); anything else is 415.
RAW_BODY_TYPES = ("image/", "application/octet-stream")
IMAGE_BODY_SCHEMA = {"type": "string", "format": "binary"}
STYLIZE_OPENAPI = {
    "requestBody": {
        "required": True,
        "description": "The image: raw bytes (PNG, JPEG, WebP or BMP; the format is read from the bytes) "
                       "or a multipart form with an `image` file field and optional option fields.",
        "content": {
            "application/octet-stream": {"schema": IMAGE_BODY_SCHEMA},
            "image/png": {"schema": IMAGE_BODY_SCHEMA},
            "image/jpeg": {"schema": IMAGE_BODY_SCHEMA},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["image"],
                "properties": {"image": IMAGE_BODY_SCHEMA, "strength": {"type": "number", "minimum": 0, "maximum": 1},
                               "max_size": {"type": "integer", "minimum": 5},
                               "preserve_color": {"type": "boolean"}}}},
        },
    },
    "responses": {
        "200": {"description": "The stylised image", "content": {"image/png": {"schema": IMAGE_BODY_SCHEMA},
                                                                  "image/jpeg": {"schema": IMAGE_BODY_SCHEMA}}},
        **{str(code): {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
           for code, text in ((400, "Not a decodable image, or bad options"), (401, "Missing or wrong bearer token"),
                              (404, "Unknown model"), (406, "No acceptable response format"),
                              (413, "Body or image too large"), (415, "Unsupported body type or image format"),
                              (422, "Invalid option values"), (503, "Queue full or shutting down (Retry-After)"),
                              (504, "Timed out"))},
    },
}
ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BodyTooLarge(Exception):
    """The request body went past ``max_body_bytes`` while it was read."""


class BodyTimeout(Exception):
    """The client did not finish sending its body within the body timeout."""


class BodyLimitMiddleware:
    """Refuses bodies over ``limit`` bytes: at once from Content-Length, or while reading a
    chunked body (the read then raises BodyTooLarge, answered 413); and bodies that take longer
    than ``timeout`` seconds to arrive (BodyTimeout, answered 408), so that a slow or stalled
    client cannot hold a request open. Once the body is complete, ``receive`` is passed through
    untouched (Starlette also uses it to notice a disconnect)."""

    def __init__(self, app, limit: int, timeout: float | None = None) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            response = error(413, f"request body is over the limit of {self.limit} bytes")
            return await response(scope, receive, send)
        seen = 0
        complete = False
        deadline = None if self.timeout is None else asyncio.get_running_loop().time() + self.timeout

        async def limited_receive():
            nonlocal seen, complete
            if complete or deadline is None:
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
                except asyncio.TimeoutError:
                    raise BodyTimeout() from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self.limit:
                    raise BodyTooLarge()
            return message

        return await self.app(scope, limited_receive, send)


def choose_format(fmt: str | None, accept: str | None) -> str:
    """"png" or "jpeg": an explicit ``format`` wins, else the Accept header (PNG by default).

    Raises:
        StarletteHTTPException(406): Accept names neither PNG, JPEG nor a wildcard.
    """
    if fmt is not None:
        return fmt
    if not accept:
        return "png"
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for media in types:
        if media in ("image/png", "image/*", "*/*"):
            return "png"
        if media in ("image/jpeg", "image/jpg"):
            return "jpeg"
    raise StarletteHTTPException(406, "Accept must allow image/png or image/jpeg")


def create_app(config: ServeConfig | None = None, store: ModelStore | None = None) -> FastAPI:
    """The service as an ASGI application (run it with uvicorn; ``pyfast serve`` does).

    Models load in the lifespan's start-up (those of a given, already loaded ``store`` are
    reused); shut-down finishes queued and running images.

    Raises:
        FileNotFoundError, ValueError: the models folder is missing or holds no model.
    """
    config = config or ServeConfig()
    service = StyleService(config, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(service.start)
        try:
            yield
        finally:
            await asyncio.to_thread(service.stop)

    app = FastAPI(title="pyfast style transfer", version=__version__, lifespan=lifespan,
                  description="Fast neural style transfer over HTTP and WebSocket, with dynamic batching.")
    app.state.service = service
    app.state.config = config
    app.add_middleware(BodyLimitMiddleware, limit=config.max_body_bytes, timeout=config.body_timeout_s)

    def check_token(authorization: str | None) -> None:
        if config.token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), config.token.encode()):
            raise StarletteHTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    async def require_token(request: Request) -> None:
        check_token(request.headers.get("authorization"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        return error(422, f"{where}: {first.get('msg', 'invalid value')}" if where else str(first.get("msg", exc)))

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge):
        return error(413, f"request body is over the limit of {config.max_body_bytes} bytes")

    @app.exception_handler(BodyTimeout)
    async def body_timeout(request: Request, exc: BodyTimeout):
        return error(408, f"request body not received within {config.body_timeout_s:g} s")

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect):
        return error(400, "client disconnected")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: models loaded and taking work",
             responses={503: {"description": "Not ready", "model": None}})
    async def readyz():
        if not service.ready:
            return error(503, "not ready")
        return {"status": "ready", "models": service.store.loaded}

    @app.get("/metrics", summary="Prometheus metrics", dependencies=[Depends(require_token)],
             response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models", summary="The style models this service runs", dependencies=[Depends(require_token)])
    async def models():
        return {
            "models": [{"name": m.name, "description": m.description} for m in service.store.models.values()],
            "max_size": config.max_size, "max_batch": config.max_batch,
        }

    @app.post("/v1/stylize/{model}", summary="Stylise one image", dependencies=[Depends(require_token)],
              response_class=Response, openapi_extra=STYLIZE_OPENAPI)
    async def stylize(
        request: Request,
        model: str,
        max_size: int | None = Query(None, ge=5, description="longer side limit in pixels (at most the service's)"),
        strength: float = Query(1.0, ge=0.0, le=1.0, description="0: the content, 1: fully stylised"),
        preserve_color: bool = Query(False, description="keep the content's colours"),
        format: Literal["png", "jpeg"] | None = Query(None, description="response format (default: from Accept, else PNG)"),
    ):
        started = time.perf_counter()
        route = "/v1/stylize"
        try:
            response = await _stylize(request, model, max_size, strength, preserve_color, format, started)
        except StarletteHTTPException as exc:
            response = error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))
        service.metrics.requests.labels(route, str(response.status_code)).inc()
        service.metrics.latency.labels(route).observe(time.perf_counter() - started)
        return response

    async def _stylize(request, model, max_size, strength, preserve_color, fmt, started) -> Response:
        try:
            service.store.info(model)
        except UnknownModel as exc:
            return error(404, str(exc))
        out_format = choose_format(fmt, request.headers.get("accept"))
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            data, fields = await _read_form(request)
            try:
                max_size = int(fields["max_size"]) if "max_size" in fields else max_size
                strength = float(fields["strength"]) if "strength" in fields else strength
                if "preserve_color" in fields:
                    preserve_color = str(fields["preserve_color"]).lower() in ("1", "true", "yes", "on")
            except ValueError as exc:
                return error(422, f"bad form field: {exc}")
        elif content_type and not content_type.startswith(RAW_BODY_TYPES):
            return error(415, f"content type {content_type!r} is not accepted; send image bytes or multipart/form-data")
        else:
            data = await request.body()
        if not data:
            return error(400, "request body is empty; send image bytes")
        try:
            options = StyleRequest(model, max_size or config.max_size, strength, preserve_color)
            image = await service.stylize(data, options, out_format, started)
        except ImageError as exc:
            return error(exc.status, str(exc))
        except (QueueFull, BatcherClosed) as exc:
            service.metrics.rejected.inc()
            return error(503, str(exc), {"Retry-After": str(RETRY_AFTER_S)})
        except RequestTimeout as exc:
            return error(504, str(exc))
        except ValueError as exc:
            return error(422, str(exc))
        except (TypeError, RuntimeError) as exc:  # the model itself failed (a broken file in --models)
            return error(500, f"model {model!r} failed: {exc}")
        return Response(image, media_type=MEDIA_TYPES[out_format])

    async def _read_form(request: Request) -> tuple[bytes, dict[str, str]]:
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise StarletteHTTPException(400, "multipart body needs an `image` file field")
        data = await upload.read()
        return data, {k: v for k, v in form.items() if isinstance(v, str)}

    @app.websocket("/v1/ws/stylize")
    async def stylize_stream(socket: WebSocket):
        await _serve_socket(socket)

    async def _serve_socket(socket: WebSocket) -> None:
        """Binary message = one image, answered by one stylised JPEG; text = JSON settings or
        stats; anything malformed = a JSON error message (the socket stays open)."""
        params = socket.query_params
        await socket.accept()
        try:
            check_token(socket.headers.get("authorization") or (f"Bearer {params['token']}" if "token" in params else None))
        except StarletteHTTPException:
            await socket.close(code=1008, reason="a valid token is required")
            return
        try:
            settings = _socket_settings(params, StyleRequest(service.store.names()[0], min(640, config.max_size)))
        except (ValueError, UnknownModel) as exc:
            await socket.send_json({"error": str(exc)})
            await socket.close(code=1008, reason="bad settings")
            return
        await socket.send_json({"type": "ready", "model": settings.model, "models": service.store.names()})
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    reply = await _socket_frame(message["bytes"], settings)
                    if isinstance(reply, bytes):
                        await socket.send_bytes(reply)
                        service.metrics.ws_frames.labels(settings.model).inc()
                    else:
                        service.metrics.ws_errors.inc()
                        await socket.send_json(reply)
                    continue
                try:
                    settings = _socket_text(message.get("text") or "", settings)
                    await socket.send_json({"type": "settings", "model": settings.model, "strength": settings.strength,
                                            "preserve_color": settings.preserve_color, "max_size": settings.max_size})
                except _Quiet:
                    pass
                except (ValueError, UnknownModel) as exc:
                    service.metrics.ws_errors.inc()
                    await socket.send_json({"error": str(exc)})
        except WebSocketDisconnect:
            return

    async def _socket_frame(data: bytes, settings: StyleRequest) -> bytes | dict:
        if len(data) > config.max_body_bytes:
            return {"error": f"frame is over the limit of {config.max_body_bytes} bytes"}
        try:
            return await service.stylize(data, settings, "jpeg")
        except ImageError as exc:
            return {"error": str(exc)}
        except (QueueFull, BatcherClosed) as exc:
            return {"error": str(exc), "retry_after": RETRY_AFTER_S}
        except RequestTimeout as exc:
            return {"error": str(exc)}
        except (ValueError, TypeError, RuntimeError) as exc:
            return {"error": str(exc)}

    class _Quiet(Exception):
        """A text message that needs no answer (stats)."""

    def _socket_text(text: str, settings: StyleRequest) -> StyleRequest:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            raise ValueError("text messages must be JSON objects") from None
        if not isinstance(message, dict):
            raise ValueError("text messages must be JSON objects")
        kind = message.get("type", "settings")
        if kind == "stats":
            service.client_stats = {k: v for k, v in message.items() if isinstance(v, (int, float, str, bool))}
            raise _Quiet()
        if kind != "settings":
            raise ValueError(f"unknown message type {str(kind)[:40]!r}; use 'settings' or 'stats'")
        return _socket_settings(message, settings)

    def _socket_settings(values, current: StyleRequest) -> StyleRequest:
        """``current`` with the model, strength, preserve_color and max_size found in ``values``."""
        model = str(values.get("model", current.model))
        service.store.info(model)
        try:
            strength = float(values.get("strength", current.strength))
            max_size = min(int(values.get("max_size", current.max_size)), config.max_size)
        except (TypeError, ValueError, OverflowError):
            raise ValueError("strength must be a number and max_size a finite integer") from None
        preserve = values.get("preserve_color", current.preserve_color)
        preserve = preserve.lower() in ("1", "true", "yes", "on") if isinstance(preserve, str) else bool(preserve)
        return StyleRequest(model, max_size, strength, preserve)

    def custom_openapi():
        if app.openapi_schema:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        for parameter in schema["paths"]["/v1/stylize/{model}"]["post"]["parameters"]:
            if parameter["name"] == "model":
                parameter["schema"]["enum"] = service.store.names()
        if config.token is not None:
            schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = custom_openapi
    return app
