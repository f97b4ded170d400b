"""The local real-time loop: camera or video -> style model -> window and/or video file.

Three threads form a pipeline: capture, inference and encoding. Between capture and
inference sits a one-frame mailbox in real-time mode: a frame the model had no time for
is replaced by the next one (dropped), so the picture never lags behind the camera.
Offline (a video file, not real time), every frame is processed in order instead.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._files import replaced_on_success, same_file
from .stylize import (VIDEO_SUFFIXES, FrameClock, Stylizer, VideoReader, add_sound, frame_rate, open_video_writer,
                      pixel_aspect, undecodable_reason)

_END = object()


class LatestSlot:
    """A one-item mailbox: ``put`` replaces an unread item (counted in ``dropped``);
    ``get`` blocks until an item or ``close``."""

    def __init__(self) -> None:
        self._item: object = None
        self._full = False
        self._closed = False
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: object) -> None:
        with self._cond:
            if self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify()

    def get(self, timeout: float | None = None) -> object:
        """The newest item; ``_END`` once closed and empty. Raises queue.Empty on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout):
                raise queue.Empty
            if not self._full:
                return _END
            item, self._item, self._full = self._item, None, False
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class _Queue:
    """A bounded FIFO with the same put/get/close as LatestSlot (offline mode: no drops).

    Once ``stop`` is set (a stage failed or the user quit), ``put`` discards items and
    ``close`` makes room for the end marker, so that no stage waits forever on a stage
    that is gone.
    """

    _POLL_S = 0.05

    def __init__(self, stop: threading.Event, size: int = 4) -> None:
        self._queue: queue.Queue = queue.Queue(size)
        self._stop = stop
        self.dropped = 0

    def put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=self._POLL_S)
                return
            except queue.Full:
                continue

    def get(self, timeout: float | None = None) -> object:
        return self._queue.get(timeout=timeout)

    def close(self) -> None:
        while True:
            try:
                self._queue.put(_END, timeout=self._POLL_S)
                return
            except queue.Full:
                if self._stop.is_set():  # nobody may read any more: drop the oldest item
                    try:
                        self._queue.get_nowait()
                    except queue.Empty:
                        pass


@dataclass
class WebcamStats:
    """Counts and rates of one run of :func:`run_webcam`."""

    captured: int = 0
    stylized: int = 0
    dropped: int = 0
    written: int = 0
    seconds: float = 0.0
    latency_ms: float = 0.0  # mean, capture to encoded
    output: Path | None = None
    complete: bool = False  # a video file read to its end, every frame written
    steady: bool = True  # each frame on its own tick of the stated rate (FrameClock): no gaps, none too close

    @property
    def fps(self) -> float:
        """Stylised frames per wall-clock second."""
        return self.stylized / self.seconds if self.seconds > 0 else 0.0


def open_capture(source: int | str | Path, ffmpeg: str | None = None):
    """A cv2.VideoCapture for a camera index, or for a video file one with its read/get
    (:class:`~pyfast.runtime.stylize.VideoReader`'s, decoding through ``ffmpeg`` what OpenCV cannot).

    Raises:
        FileNotFoundError: a video path that does not exist. ValueError: cannot be opened.
    """
    import cv2

    if isinstance(source, int):
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            raise ValueError(f"camera {source} cannot be opened")
        return capture
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no such video file: {path}")
    return VideoReader(path, ffmpeg).capture


def draw_fps(bgr: np.ndarray, fps: float, latency_ms: float) -> np.ndarray:
    """Writes "<fps> fps, <latency> ms" in the top-left corner of a BGR frame (in place; returns it)."""
    import cv2

    text = f"{fps:5.1f} fps  {latency_ms:4.0f} ms"
    scale = max(0.4, bgr.shape[1] / 900)
    for color, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(bgr, text, (8, int(24 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)
    return bgr


def run_webcam(
    stylizer: Stylizer,
    source: int | str | Path = 0,
    out: str | Path | None = None,
    window: bool = True,
    realtime: bool | None = None,
    max_frames: int | None = None,
    overlay: bool = True,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = False,
    sound: bool = True,
) -> WebcamStats:
    """Runs the capture -> inference -> encoding pipeline until the source ends, ``max_frames``
    frames are captured, ``should_stop()`` turns true, Ctrl-C, or "q" in the window.

    The video is written to a temporary file that replaces ``out`` when the run ends: an
    error, or Ctrl-C while stylising a video file, leaves an earlier ``out`` as it was (the
    KeyboardInterrupt is re-raised); Ctrl-C on a camera is its normal stop and keeps the
    recording.

    Args:
        stylizer: the style model and options (max size, strength, colour).
        source: a camera index or a video file.
        out: video file to write (.mp4, .m4v, .mov, .mkv, .webm, .avi), frames at the processed
            size (``max_size``), without the overlay; encoded through FFmpeg where there is one
            (H.264, VP9, Motion JPEG: see :func:`~pyfast.runtime.stylize.open_video_writer`),
            else by OpenCV.
        window: show the result in an OpenCV window (needs an OpenCV build with a GUI).
        realtime: drop frames the model has no time for (default: True for cameras, False
            for files, which are then processed frame by frame).
        max_frames: stop after capturing this many frames.
        overlay: draw the frame rate and latency in the window.
        progress: a progress bar over the frames of a video file processed frame by frame.
        sound: give ``out`` the sound of a video file read to its end with every frame kept
            (:func:`~pyfast.runtime.stylize.add_sound`, as stylize does); a camera, a run
            stopped early or dropped frames leave it silent, and so does a variable frame rate
            (with a warning: webcam writes frame by frame, stylize retimes).

    Raises:
        ValueError: nothing to show or write (``window`` False and no ``out``), ``out`` not a
            video file name or the source video itself, a ``PYFAST_FFMPEG`` that is not an
            executable, a source that cannot be opened, no frame stylised, or no GUI for a
            window. FileNotFoundError: a missing video file.
    """
    import cv2

    from .ffmpeg import find_ffmpeg

    if not window and out is None:
        raise ValueError("nothing to do: give an output file (out) or show a window")
    if out is not None:
        out = Path(out)
        if out.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"cannot write video to {out}: name a {', '.join(VIDEO_SUFFIXES)} file")
        if not isinstance(source, int) and same_file(out, source):
            raise ValueError(f"writing {out} would overwrite the video being stylised; choose another name")
    ffmpeg = find_ffmpeg() if out is not None or not isinstance(source, int) else None  # writes / decodes
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    if window and re.search(r"GUI:\s+NONE", cv2.getBuildInformation()):
        raise ValueError("this OpenCV build has no GUI (opencv-python-headless): no window can be shown; "
                         "write a video file instead (--out FILE --no-window)")
    live = isinstance(source, int)
    realtime = live if realtime is None else realtime
    with replaced_on_success(out) if out is not None else contextlib.nullcontext() as target:
        stats = _run_pipeline(stylizer, source, out, target, ffmpeg, window, live, realtime, max_frames, overlay,
                              should_stop, progress)
        if out is not None and stats.written == 0:
            raise ValueError(f"no frame was stylised, so {out} was not written")
        if out is not None and sound and stats.complete:
            if stats.steady:
                add_sound(target, Path(source), out, ffmpeg)
            else:
                warnings.warn(f"{out} is written without sound: {source} has a variable frame rate, which webcam "
                              "writes frame by frame (pyfast stylize keeps it in step with the sound)",
                              RuntimeWarning, stacklevel=2)
    return stats


def _run_pipeline(stylizer: Stylizer, source: int | str | Path, out: Path | None, target: Path | None,
                  ffmpeg: str | None, window: bool, live: bool, realtime: bool, max_frames: int | None, overlay: bool,
                  should_stop: Callable[[], bool] | None, progress: bool) -> WebcamStats:
    """run_webcam's three threads, writing to ``target`` (through ``ffmpeg`` where it can); re-raises a thread's error, and
    Ctrl-C unless the source is a camera."""
    import cv2
    from tqdm.auto import tqdm

    capture = open_capture(source, ffmpeg)
    fps_in, aspect = frame_rate(capture, 30.0), pixel_aspect(capture)
    stop, ran_dry = threading.Event(), threading.Event()  # ran_dry: the source ended by itself
    stamped = not live and isinstance(capture, cv2.VideoCapture)  # FFmpeg's pipe gives no times
    clock = FrameClock(fps_in)  # frame by frame is in step with the sound while each frame is on its own tick
    frames_in = LatestSlot() if realtime else _Queue(stop)
    frames_out = LatestSlot() if realtime else _Queue(stop)
    shown = LatestSlot()
    errors: list[BaseException] = []
    stats = WebcamStats(output=out)
    latencies: list[float] = []
    frame_count = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))  # cameras: -1 or 0
    bar = tqdm(total=min(frame_count, max_frames or frame_count) or None, desc="webcam", unit="frame",
               disable=not progress or realtime, leave=False)

    def guarded(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
                stop.set()

        return run

    def capture_loop() -> None:
        period = 1.0 / fps_in if (realtime and not live) else 0.0  # a file played in real time
        next_at = time.perf_counter()
        try:
            while not stop.is_set() and (max_frames is None or stats.captured < max_frames):
                ok, bgr = capture.read()
                if not ok:
                    ran_dry.set()
                    break
                if stamped and clock.tick(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000) != stats.captured:
                    stats.steady = False
                stats.captured += 1
                frames_in.put((time.perf_counter(), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
                if period:
                    next_at += period
                    time.sleep(max(0.0, next_at - time.perf_counter()))
        finally:
            frames_in.close()

    def inference_loop() -> None:
        try:
            while not stop.is_set() and (item := frames_in.get()) is not _END:
                taken, rgb = item
                rgb = stylizer.fit(rgb, "frame")  # raises for frames under the model's minimum size
                styled = stylizer(rgb[None])[0]
                stats.stylized += 1
                frames_out.put((taken, styled))
        finally:
            frames_out.close()

    def encoding_loop() -> None:
        writer = None
        started = time.perf_counter()
        try:
            while (item := frames_out.get()) is not _END:
                taken, rgb = item
                bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
                latencies.append((time.perf_counter() - taken) * 1e3)
                if target is not None:
                    if writer is None:
                        writer = open_video_writer(target, out, fps_in, bgr.shape[1], bgr.shape[0], ffmpeg, aspect)
                    writer.write(bgr)
                    stats.written += 1
                bar.update()
                if window:
                    if overlay:
                        elapsed = time.perf_counter() - started
                        bgr = draw_fps(bgr.copy(), stats.stylized / elapsed if elapsed > 0 else 0.0,
                                       float(np.mean(latencies[-30:])))
                    shown.put(bgr)
        finally:
            if writer is not None:
                writer.release()
            shown.close()
        if getattr(writer, "error", None):  # FFmpegWriter: FFmpeg failed finishing the file
            raise ValueError(writer.error)

    threads = [threading.Thread(target=guarded(fn), name=f"pyfast-webcam-{name}", daemon=True)
               for name, fn in (("capture", capture_loop), ("inference", inference_loop), ("encoding", encoding_loop))]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    interrupted = False
    try:
        _display_or_wait(shown if window else None, threads, stop, should_stop)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        capture.release()
        bar.close()
        if window:
            cv2.destroyAllWindows()
    stats.seconds = time.perf_counter() - start
    stats.dropped = frames_in.dropped + frames_out.dropped
    stats.latency_ms = float(np.mean(latencies)) if latencies else 0.0
    stats.complete = ran_dry.is_set() and not live and stats.written == stats.captured > 0
    if errors:
        raise errors[0]
    if interrupted and not live:
        raise KeyboardInterrupt
    if stats.captured == 0 and ran_dry.is_set() and not live:
        raise ValueError(f"{source}: no frame could be decoded "
                         f"({undecodable_reason(getattr(capture, 'error', None), ffmpeg)})")
    return stats


def _display_or_wait(shown: LatestSlot | None, threads: list[threading.Thread], stop: threading.Event,
                     should_stop: Callable[[], bool] | None) -> None:
    """The main thread: shows frames (OpenCV windows live on the main thread) or just waits."""
    import cv2

    while any(t.is_alive() for t in threads):
        if should_stop is not None and should_stop():
            stop.set()
        if shown is None:
            threads[-1].join(0.05)
            continue
        try:
            frame = shown.get(timeout=0.05)
        except queue.Empty:
            frame = None
        if frame is _END:
            return
        if frame is not None:
            cv2.imshow("pyfast webcam (q to quit)", frame)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            stop.set()
