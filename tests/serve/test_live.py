"""A real server on loopback: load, back-pressure, clients that vanish, graceful shutdown."""

import socket
import threading
import time

import httpx
import pytest

from pyfast.serve import ServeConfig
from pyfast.serve.loadgen import run_load
from pyfast.serve.server import BackgroundServer

from .conftest import image_bytes


def post(url: str, body: bytes, timeout: float = 30.0) -> httpx.Response:
    return httpx.post(url, content=body, timeout=timeout)


@pytest.mark.slow
def test_32_clients_get_only_results_or_deliberate_503s():
    config = ServeConfig(port=0, max_size=64, max_batch=8, max_delay_ms=5, queue_size=24)
    with BackgroundServer(config) as server:
        result = run_load(f"{server.url}/v1/stylize/mosaic", image_bytes(64, 48), clients=32, duration_s=4.0)
    summary = result.summary()
    print(f"\nload: 32 clients for {summary['seconds']:.1f} s: {summary['throughput_rps']:.1f} requests/s, "
          f"p50 {summary['p50_ms']:.0f} ms, p99 {summary['p99_ms']:.0f} ms, statuses {summary['statuses']}")
    assert not result.failures, result.failures[:3]
    assert set(result.statuses) <= {200, 503}
    assert result.ok >= 32


def test_a_full_queue_answers_503_with_retry_after_and_recovers():
    config = ServeConfig(port=0, max_size=128, max_batch=1, max_delay_ms=0, queue_size=1)
    with BackgroundServer(config) as server:
        url = f"{server.url}/v1/stylize/mosaic"
        body = image_bytes(128, 128)
        responses: list[httpx.Response] = []
        threads = [threading.Thread(target=lambda: responses.append(post(url, body))) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in responses)
        assert set(codes) == {200, 503}, codes
        busy = next(r for r in responses if r.status_code == 503)
        assert busy.headers["retry-after"] == "1" and "waiting" in busy.json()["error"]
        assert post(url, body).status_code == 200


def test_clients_that_disconnect_mid_request_do_not_hurt_the_service():
    with BackgroundServer(ServeConfig(port=0, max_size=64)) as server:
        host, port = "127.0.0.1", server.port
        body = image_bytes(64, 64)
        head = (f"POST /v1/stylize/mosaic HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        for sent in (head + body[:100], head + body):  # half a body; a whole request, reply unread
            with socket.create_connection((host, port)) as conn:
                conn.sendall(sent)
            time.sleep(0.1)
        with socket.create_connection((host, port)) as conn:  # headers only, then silence
            conn.sendall(head[:40])
        response = post(f"{server.url}/v1/stylize/mosaic", body)
        assert response.status_code == 200
        assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_a_client_that_stalls_mid_body_gets_408_and_is_let_go():
    with BackgroundServer(ServeConfig(port=0, max_size=64, body_timeout_s=1.0)) as server:
        head = (b"POST /v1/stylize/mosaic HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                b"Content-Length: 1000\r\n\r\n")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(head + bytes(100))  # 100 of the 1000 bytes promised, then silence
            started = time.perf_counter()
            status_line = conn.recv(4096).split(b"\r\n", 1)[0]
        assert status_line == b"HTTP/1.1 408 Request Timeout"
        assert time.perf_counter() - started < 5
        assert post(f"{server.url}/v1/stylize/mosaic", image_bytes(64, 64)).status_code == 200


def test_graceful_shutdown_finishes_in_flight_requests():
    config = ServeConfig(port=0, max_size=128, max_batch=4, max_delay_ms=2000)  # the batch waits for all four
    server = BackgroundServer(config).start()
    url = f"{server.url}/v1/stylize/mosaic"
    responses: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: responses.append(post(url, image_bytes(128, 96)))) for _ in range(4)]
    for t in threads:
        t.start()
    service = server.app.state.service
    deadline = time.monotonic() + 10
    while service.batcher.waiting + service.batcher.running < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    server.stop()
    for t in threads:
        t.join(30)
    assert [r.status_code for r in responses] == [200] * 4
    assert not service.ready
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", timeout=2)
