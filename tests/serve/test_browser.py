"""End to end: the webcam page in headless Chromium with a fake camera, over a real server."""

import subprocess
import tempfile
import time

import pytest

from pyfast.serve import ServeConfig
from pyfast.serve.server import BackgroundServer

MIN_FRAMES = 20
TIME_LIMIT_S = 30.0


@pytest.mark.slow
def test_webcam_page_streams_stylised_frames(browser):
    config = ServeConfig(port=0, max_size=160, max_batch=4, max_delay_ms=2)
    with BackgroundServer(config) as server, tempfile.TemporaryDirectory(prefix="pyfast-chromium-") as profile:
        service = server.app.state.service
        command = [
            browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}",
            "--no-first-run", "--mute-audio", f"{server.url}/?model=mosaic&test=1",
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + TIME_LIMIT_S
            while time.monotonic() < deadline and service.client_stats.get("frames", 0) < MIN_FRAMES:
                assert process.poll() is None, f"Chromium exited early: {process.stderr.read()[-2000:]}"
                time.sleep(0.25)
            time.sleep(0.6)  # one more stats report after the last counted frame
            stats = dict(service.client_stats)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    assert stats, "the page never reported back (camera or WebSocket failed)"
    print(f"\nbrowser: {stats['frames']} stylised frames of {stats['width']}x{stats['height']} in "
          f"{stats['seconds']:.1f} s = {stats['fps']:.1f} frames/s, mean latency {stats['latency_ms']:.0f} ms, "
          f"mean |output - input| {stats['mean_abs_diff']:.1f}/255")
    assert stats["frames"] >= MIN_FRAMES
    assert stats["errors"] == 0
    assert (stats["width"], stats["height"]) == (160, 120)  # the fake camera's 4:3 frames at max size 160
    assert stats["mean_abs_diff"] > 10.0, "stylised frames look like the camera's frames"
