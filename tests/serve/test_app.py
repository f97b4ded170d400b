"""The HTTP API through an in-process client: results, options, limits and errors."""

import io
import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pyfast.serve import ModelStore, ServeConfig, UnknownModel, create_app, is_loopback
from pyfast.zoo import get_style
from tests.helpers import png_header_only

from .conftest import image_bytes

MAX_SIZE = 64
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def client():
    app = create_app(ServeConfig(max_size=MAX_SIZE, max_body_bytes=200_000, max_pixels=4_000_000, max_delay_ms=1))
    with TestClient(app) as c:
        yield c


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_listing_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and set(ready.json()["models"]) == {"mosaic", "starry"}
    listing = client.get("/v1/models").json()
    assert [m["name"] for m in listing["models"]] == ["mosaic", "starry"]
    assert listing["max_size"] == MAX_SIZE
    client.post("/v1/stylize/mosaic", content=image_bytes())
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'pyfast_requests_total{route="/v1/stylize",status="200"}' in metrics.text
    assert "pyfast_batch_size_bucket" in metrics.text and "pyfast_queue_waiting" in metrics.text


def test_stylize_raw_bytes_returns_a_stylised_png_scaled_to_max_size(client):
    source = image_bytes(96, 80, "JPEG")
    response = client.post("/v1/stylize/mosaic", content=source, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    out = decode(response.content)
    assert out.shape == (53, 64, 3)  # 96x80 fitted within 64
    content = np.asarray(Image.open(io.BytesIO(source)).convert("RGB").resize((64, 53)), dtype=np.float32)
    assert np.abs(out - content).mean() > 10


def test_options_reuse_the_runtime_blend_and_colour_preservation(client):
    source = image_bytes(40, 32)
    content = decode(source).astype(np.float32)
    untouched = decode(client.post("/v1/stylize/starry?strength=0", content=source).content)
    assert np.abs(untouched - content).max() <= 1  # strength 0: the content itself
    full = decode(client.post("/v1/stylize/starry", content=source).content).astype(np.float32)
    half = decode(client.post("/v1/stylize/starry?strength=0.5", content=source).content).astype(np.float32)
    assert np.abs(half - (full + content) / 2).max() <= 2
    kept = client.post("/v1/stylize/starry?preserve_color=true&format=jpeg", content=source)
    assert kept.headers["content-type"] == "image/jpeg"


def test_multipart_upload_with_form_options_and_accept_negotiation(client):
    response = client.post("/v1/stylize/mosaic", files={"image": ("x.bin", image_bytes(30, 30), "text/plain")},
                           data={"strength": "0", "max_size": "20"}, headers={"accept": "image/jpeg"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert decode(response.content).shape == (20, 20, 3)
    missing = client.post("/v1/stylize/mosaic", files={"other": ("x.png", image_bytes(), "image/png")})
    assert missing.status_code == 400 and "image" in missing.json()["error"]


def truncated_jpeg() -> bytes:
    data = image_bytes(64, 64, "JPEG")
    return data[: len(data) // 2]


def zero_size_png() -> bytes:
    return png_header_only(0, 0)


BAD_REQUESTS = [
    ("non-image bytes", "mosaic", b"this is not an image at all", {}, 415),
    ("truncated JPEG", "mosaic", truncated_jpeg(), {}, 400),
    ("0x0 image", "mosaic", zero_size_png(), {}, 400),
    ("20000x20000 header", "mosaic", png_header_only(20000, 20000), {}, 413),
    ("wrong content type", "mosaic", image_bytes(), {"content-type": "application/json"}, 415),
    ("form-encoded body", "mosaic", b"a=1", {"content-type": "application/x-www-form-urlencoded"}, 415),
    ("oversized body", "mosaic", b"\x89PNG\r\n\x1a\n" + bytes(300_000), {}, 413),
    ("empty body", "mosaic", b"", {}, 400),
    ("unknown model", "picasso", image_bytes(), {}, 404),
    ("model name with dots", "..mosaic", image_bytes(), {}, 404),
    ("encoded path", "..%2F..%2Fetc%2Fpasswd", image_bytes(), {}, 404),
    ("no acceptable format", "mosaic", image_bytes(), {"accept": "text/html"}, 406),
    ("image too small after scaling", "mosaic", image_bytes(200, 4), {}, 400),
]


@pytest.mark.parametrize("name, model, body, headers, status", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_a_json_error_and_the_service_keeps_serving(client, name, model, body, headers, status):
    response = client.post(f"/v1/stylize/{model}", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert client.post("/v1/stylize/mosaic", content=image_bytes()).status_code == 200


@pytest.mark.parametrize("query", ["strength=2", "strength=abc", "max_size=2", "format=gif", "preserve_color=maybe"])
def test_bad_options_are_422_json(client, query):
    response = client.post(f"/v1/stylize/mosaic?{query}", content=image_bytes())
    assert response.status_code == 422 and "error" in response.json()


def test_chunked_body_over_the_limit_is_refused_while_reading(client):
    def chunks():
        for _ in range(10):
            yield bytes(50_000)

    response = client.post("/v1/stylize/mosaic", content=chunks())
    assert response.status_code == 413 and "limit" in response.json()["error"]


def test_unknown_routes_are_json_errors(client):
    assert client.get("/v1/nothing").json() == {"error": "Not Found"}


def test_openapi_spec_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    stylize = spec["paths"]["/v1/stylize/{model}"]["post"]
    assert {"application/octet-stream", "multipart/form-data"} <= set(stylize["requestBody"]["content"])
    assert {p["name"] for p in stylize["parameters"]} == {"model", "max_size", "strength", "preserve_color", "format"}
    assert {"200", "404", "413", "415", "503"} <= set(stylize["responses"])
    assert {"/v1/models", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])


def test_webcam_page_and_its_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text and 'id="model"' in page.text and 'id="strength"' in page.text
    script = client.get("/static/app.js").text
    assert "getUserMedia" in script and "/v1/ws/stylize" in script


def test_websocket_frames_settings_and_malformed_messages(client):
    with client.websocket_connect("/v1/ws/stylize?model=starry&max_size=32") as ws:
        assert ws.receive_json()["model"] == "starry"
        ws.send_bytes(image_bytes(48, 40, "JPEG"))
        frame = decode(ws.receive_bytes())
        assert frame.shape == (27, 32, 3)
        for bad in (b"not an image", truncated_jpeg()):
            ws.send_bytes(bad)
            assert "error" in ws.receive_json()
        for bad in ("{broken", "[1, 2]", json.dumps({"type": "launch"}), json.dumps({"model": "../etc"}),
                    json.dumps({"strength": 7}), json.dumps({"strength": "x"}), '{"max_size": 1e999}',
                    "[" * 100_000 + "]" * 100_000):
            ws.send_text(bad)
            assert "error" in ws.receive_json(), bad
        ws.send_text(json.dumps({"type": "settings", "model": "mosaic", "strength": 0.5}))
        assert ws.receive_json()["model"] == "mosaic"
        ws.send_text(json.dumps({"type": "stats", "frames": 3, "fps": 1.5}))  # stats: no answer
        ws.send_bytes(image_bytes(48, 40))
        assert decode(ws.receive_bytes()).shape == (27, 32, 3)  # still serving after the errors
    assert client.app.state.service.client_stats["frames"] == 3


def test_websocket_with_an_unknown_model_is_told_and_closed(client):
    with client.websocket_connect("/v1/ws/stylize?model=nope") as ws:
        assert "unknown model" in ws.receive_json()["error"]
        assert ws.receive()["type"] == "websocket.close"


def test_bearer_token_guards_the_api_but_not_health():
    config = ServeConfig(host="0.0.0.0", token="s3cret", max_size=32)
    with TestClient(create_app(config)) as c:
        assert c.get("/healthz").status_code == 200
        denied = c.get("/v1/models")
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
        assert c.post("/v1/stylize/mosaic", content=image_bytes(), headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/metrics").status_code == 401
        ok = c.post("/v1/stylize/mosaic", content=image_bytes(), headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        with c.websocket_connect("/v1/ws/stylize") as ws:
            assert ws.receive()["type"] == "websocket.close"
        with c.websocket_connect("/v1/ws/stylize?token=s3cret") as ws:
            assert ws.receive_json()["type"] == "ready"
        assert c.get("/openapi.json").json()["security"] == [{"bearer": []}]


def test_a_model_that_fails_at_run_time_is_a_json_500_and_the_service_keeps_serving(tmp_path):
    from ..runtime.test_engine import fixed_size_model

    fixed_size_model(tmp_path / "fixed.onnx")
    shutil.copy(get_style("mosaic").onnx, tmp_path / "mosaic.onnx")
    with TestClient(create_app(ServeConfig(models_dir=tmp_path, max_size=32, max_delay_ms=1))) as c:
        failed = c.post("/v1/stylize/fixed", content=image_bytes(16, 16))
        assert failed.status_code == 500 and failed.headers["content-type"] == "application/json"
        assert "ONNX Runtime failed" in failed.json()["error"]
        with c.websocket_connect("/v1/ws/stylize?model=fixed") as ws:
            ws.receive_json()
            ws.send_bytes(image_bytes(16, 16))
            assert "ONNX Runtime failed" in ws.receive_json()["error"]
        assert c.post("/v1/stylize/mosaic", content=image_bytes(16, 16)).status_code == 200


def test_config_checks():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    with pytest.raises(ValueError, match="token"):
        ServeConfig(host="0.0.0.0")
    with pytest.raises(ValueError, match="max_batch"):
        ServeConfig(max_batch=0)
    with pytest.raises(FileNotFoundError):
        ServeConfig(models_dir="/no/such/folder")


def test_model_store_lists_only_onnx_files_of_its_folder(tmp_path):
    shutil.copy(get_style("mosaic").onnx, tmp_path / "tiles.onnx")
    shutil.copy(get_style("mosaic").onnx, tmp_path / "bad name.onnx")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    shutil.copy(get_style("mosaic").onnx, tmp_path / "sub" / "hidden.onnx")
    store = ModelStore(tmp_path, providers="cpu")
    assert store.names() == ["tiles"]
    for name in ("bad name", "sub/hidden", "hidden", "../tiles", "tiles.onnx", ""):
        with pytest.raises(UnknownModel):
            store.info(name)
    assert store.engine("tiles") is store.engine("tiles")  # one shared Engine
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .onnx"):
        ModelStore(tmp_path / "empty")


def test_a_stalled_body_is_answered_408_and_a_complete_one_passes():
    import asyncio

    from pyfast.serve.app import BodyLimitMiddleware, BodyTimeout

    async def app(scope, receive, send):  # reads the whole body, then listens once more (for a disconnect)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await receive()
        scope["body"] = body

    def run(messages, stall_after):
        async def receive():
            if len(messages) <= stall_after:
                await asyncio.sleep(3600)  # a client that stopped sending
            return messages.pop(0)

        scope = {"type": "http", "headers": []}
        middleware = BodyLimitMiddleware(app, limit=1000, timeout=0.2)
        asyncio.run(middleware(scope, receive, None))
        return scope

    with pytest.raises(BodyTimeout):
        run([{"type": "http.request", "body": b"ab", "more_body": True}] * 3, stall_after=1)
    done = run([{"type": "http.request", "body": b"ab", "more_body": True},
                {"type": "http.request", "body": b"cd", "more_body": False},
                {"type": "http.disconnect"}], stall_after=-1)
    assert done["body"] == b"abcd"


def test_an_rgba_upload_keeps_its_alpha_channel_in_png(client):
    rgba = np.zeros((40, 48, 4), np.uint8)
    rgba[..., :3] = 120
    rgba[:, :24, 3] = 255  # left half opaque, right half transparent
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    response = client.post("/v1/stylize/mosaic?max_size=24", content=buffer.getvalue(),
                           headers={"content-type": "image/png"})
    out = Image.open(io.BytesIO(response.content))
    assert response.status_code == 200 and out.mode == "RGBA" and out.size == (24, 20)  # scaled with the image
    alpha = np.asarray(out)[..., 3]
    assert alpha[:, :10].min() >= 250 and alpha[:, 14:].max() <= 5
    jpeg = client.post("/v1/stylize/mosaic?format=jpeg", content=buffer.getvalue(), headers={"content-type": "image/png"})
    assert jpeg.status_code == 200 and Image.open(io.BytesIO(jpeg.content)).mode == "RGB"
