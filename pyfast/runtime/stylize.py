"""Stylising images, folders and videos with an ONNX style model (numpy + ONNX Runtime)."""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .._checks import check_choice, check_fraction, check_int
from .._errors import error_text
from .._files import files_below, replaced_on_success, same_file
from ..data.images import IMAGE_SUFFIXES, Image, fit_within, read_image, resize, write_image
from .color import blend, preserve_color, to_uint8
from .engine import Engine

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
MIN_SIDE = 5  # the style network's smallest input


@dataclass
class StylizeOptions:
    """How outputs are made from inputs.

    Attributes:
        max_size: longer side limit in pixels (None: no limit).
        oversize: what to do with an input over ``max_size``: "resize" it down, or "error".
        strength: 0..1, blend of the stylised image over the content.
        preserve_color: keep the content's chroma (transfer luminance only).
        batch_size: images per ONNX Runtime call (same-size images are batched).
    """

    max_size: int | None = 1024
    oversize: str = "resize"
    strength: float = 1.0
    preserve_color: bool = False
    batch_size: int = 4

    def __post_init__(self) -> None:  # keeps the checked values (a float strength, int sizes)
        self.strength = check_fraction(self.strength, "strength")
        check_choice(self.oversize, "oversize", ("resize", "error"))
        if self.max_size is not None:
            self.max_size = check_int(self.max_size, "max_size", MIN_SIDE)
        self.batch_size = check_int(self.batch_size, "batch_size")


@dataclass
class StylizeStats:
    frames: int = 0
    seconds: float = 0.0  # in the model (ONNX Runtime), not IO
    outputs: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # inputs skipped, and why

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def to_model_input(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float32 on the 0-255 scale, the style model's input.

    Raises:
        ValueError: not (N, H, W, 3) uint8, or a side under ``MIN_SIDE`` pixels.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    h, w = frames.shape[1:3]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"image is {w}x{h} pixels; the style model needs at least {MIN_SIDE}x{MIN_SIDE}")
    return np.ascontiguousarray(frames.transpose(0, 3, 1, 2), dtype=np.float32)


def finish_output(frames: np.ndarray, output: np.ndarray, strength: float = 1.0, preserve: bool = False) -> np.ndarray:
    """The style model's raw output -> the final uint8 images.

    Args:
        frames: (N, H, W, 3) uint8, the content the model was given.
        output: (N, 3, H, W) float, the model's output on the 0-255 scale (unclipped).
        strength: 0..1 blend of the stylised image over the content.
        preserve: keep the content's chroma (luminance-only transfer).
    Returns:
        (N, H, W, 3) uint8.

    Raises:
        RuntimeError: ``output`` is not (N, 3, H', W') for the frames' N, H and W with
            H <= H' < H + 4 and W <= W' < W + 4 (pytorch/examples' TransformerNet, which
            does not crop, returns up to 3 px more when a side is not a multiple of 4: cropped).
    """
    n, h, w = frames.shape[:3]
    shape = getattr(output, "shape", None)
    if shape is not None and len(shape) == 4 and shape[:2] == (n, 3) and h <= shape[2] < h + 4 and w <= shape[3] < w + 4:
        output = output[:, :, :h, :w]
    if getattr(output, "shape", None) != (n, 3, h, w):
        raise RuntimeError(f"the model returned shape {getattr(output, 'shape', type(output).__name__)} for "
                         f"{n} frame(s) of {w}x{h}; a style model returns (N, 3, H, W) of the input's size")
    out = np.clip(output.transpose(0, 2, 3, 1), 0, 255)
    if preserve:
        out = preserve_color(frames, out)
    return to_uint8(blend(frames, out, strength))


class Stylizer:
    """Applies a style Engine to uint8 RGB frames, with strength and colour preservation."""

    def __init__(self, engine: Engine, options: StylizeOptions | None = None) -> None:
        self.engine = engine
        self.options = options or StylizeOptions()
        self.stats = StylizeStats()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, H, W, 3) uint8 stylised."""
        x = to_model_input(frames)
        start = time.perf_counter()
        y = self.engine.run(x)
        self.stats.seconds += time.perf_counter() - start
        self.stats.frames += len(frames)
        return finish_output(frames, y, self.options.strength, self.options.preserve_color)

    def fit(self, rgb: np.ndarray, name: str = "image") -> np.ndarray:
        """Applies the max-size policy to one (H, W, 3) image.

        Raises:
            ValueError (naming ``name``): over the max size with ``oversize="error"``, or a
                side under ``MIN_SIDE`` pixels as given or once scaled down to the max size.
        """
        h, w = rgb.shape[:2]
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"{name} is {w}x{h} pixels; the style model needs at least {MIN_SIDE}x{MIN_SIDE}")
        if self.options.max_size is None or max(h, w) <= self.options.max_size:
            return rgb
        if self.options.oversize == "error":
            raise ValueError(f"{name} is {w}x{h}, over the max size of {self.options.max_size} pixels")
        nh, nw = fit_within(h, w, self.options.max_size)
        if min(nh, nw) < MIN_SIDE:
            raise ValueError(f"{name} is {w}x{h} pixels: scaled to the max size of {self.options.max_size} it would be "
                             f"{nw}x{nh}, under the style model's minimum of {MIN_SIDE}x{MIN_SIDE} (raise the max size)")
        return resize(rgb, nh, nw)


def _output_path(source: Path, root: Path | None, out: Path, suffix: str | None = None) -> Path:
    relative = source.relative_to(root) if root is not None else Path(source.name)
    return out / relative.with_suffix(suffix or source.suffix)


def plan_outputs(files: Sequence[tuple[Path, Path | None]], out: Path, single_output: Path | None = None) -> list[Path]:
    """The file each input is written to: ``single_output`` for one input given an explicit file,
    else the input's path relative to the folder it was found in (or its name), under ``out``.

    Raises:
        ValueError: an output would overwrite an input, two inputs would be written to the same
            file, or a video would be written to an image file (or the other way round).
    """
    targets = [single_output or _output_path(source, root, out) for source, root in files]
    inputs = {Path(os.path.normcase(source.resolve())) for source, _ in files}
    seen: dict[Path, Path] = {}
    for (source, _), target in zip(files, targets):
        resolved = Path(os.path.normcase(target.resolve()))
        if resolved in inputs or (target.exists() and any(same_file(target, s) for s, _ in files)):
            raise ValueError(f"writing {target} would overwrite an input; choose another output (-o)")
        if resolved in seen:
            raise ValueError(f"{seen[resolved]} and {source} would both be written to {target}; "
                             "give them different names or an output folder per input folder")
        seen[resolved] = source
        if (source.suffix.lower() in IMAGE_SUFFIXES) != (target.suffix.lower() in IMAGE_SUFFIXES):
            raise ValueError(f"cannot write {source.name} as {target.name}: images go to image files, videos to "
                             "video files")
    return targets


def collect_inputs(inputs: Sequence[str | os.PathLike],
                   exclude: Sequence[str | os.PathLike] = ()) -> list[tuple[Path, Path | None]]:
    """(file, folder it was found in or None) for files and folders given on the command line;
    a file given twice (under any spelling) once. Folders are searched recursively, leaving
    out the ``exclude`` folders (the output folder, when it lies inside an input folder).

    Raises:
        FileNotFoundError: a path that does not exist. ValueError: unsupported file type,
        or nothing to stylise.
    """
    found: list[tuple[Path, Path | None]] = []
    if any(not str(item).strip() for item in inputs):
        raise ValueError("an input path is empty")
    for item in map(Path, inputs):
        if item.is_dir():
            found += [(p, item) for p in files_below(item, IMAGE_SUFFIXES + VIDEO_SUFFIXES, exclude)]
        elif item.is_file():
            if item.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                raise ValueError(f"{item}: unsupported file type {item.suffix!r} (images: {', '.join(IMAGE_SUFFIXES)}; videos: {', '.join(VIDEO_SUFFIXES)})")
            found.append((item, None))
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    if not found:
        raise ValueError("no images or videos to stylise in " + ", ".join(map(str, inputs)))
    unique: dict[str, tuple[Path, Path | None]] = {}
    for path, folder in found:
        unique.setdefault(os.path.realpath(path), (path, folder))
    return list(unique.values())


def stylize_images(
    stylizer: Stylizer, files: Iterable[tuple[Path, Path | None]], out: Path, single_output: Path | None = None,
    progress: bool = True,
) -> StylizeStats:
    """Stylises image files, batching images of equal size, writing next to ``out``'s layout.

    ``single_output`` names the output file when one image goes to an explicit file path.
    An input that cannot be read, is too small or whose output cannot be written is
    skipped and recorded in the returned stats' ``failed`` list with the reason; the
    others are still written.

    Raises:
        ValueError: see :func:`plan_outputs` (checked before anything is written).
    """
    from tqdm.auto import tqdm

    files = list(files)
    targets = plan_outputs(files, out, single_output)
    pending: dict[tuple[int, int], list[tuple[Path, Path, Image]]] = {}
    # Images wait for others of their size to fill a batch; at most this many wait in all
    # (a folder of all-different sizes would otherwise be held in memory to the end).
    max_waiting = max(2 * stylizer.options.batch_size, 8)
    bar = tqdm(total=len(files), desc="stylize", unit="img", disable=not progress)  # counts finished images

    def flush(key: tuple[int, int]) -> None:
        group = pending.pop(key, [])
        if not group:
            return
        styled = stylizer(np.stack([img.rgb for _, _, img in group]))
        for (source, target, img), rgb in zip(group, styled):
            alpha = img.alpha
            if alpha is not None and alpha.shape != rgb.shape[:2]:
                alpha = resize(alpha[..., None], *rgb.shape[:2])[..., 0]
            try:
                stylizer.stats.outputs.append(write_image(target, rgb, alpha))
            except OSError as exc:  # this output's folder or file; the others may still be written
                stylizer.stats.failed.append((source, error_text(exc)))
        bar.update(len(group))

    try:
        for (source, _), target in zip(files, targets):
            try:
                img = read_image(source)
                rgb = stylizer.fit(img.rgb, str(source))
            except (OSError, ValueError) as exc:
                stylizer.stats.failed.append((source, error_text(exc)))
                bar.update()
                continue
            key = rgb.shape[:2]
            pending.setdefault(key, []).append((source, target, Image(rgb, img.alpha)))
            if len(pending[key]) >= stylizer.options.batch_size:
                flush(key)
            elif sum(map(len, pending.values())) > max_waiting:
                flush(max(pending, key=lambda k: len(pending[k])))
        for key in list(pending):
            flush(key)
    finally:
        bar.close()
    return stylizer.stats


def quiet_video_logs(opencv_level: str = "SILENT") -> None:
    """Turns off FFmpeg's log lines in OpenCV's video back end and sets OpenCV's own log level
    (``"SILENT"``, ``"ERROR"``, ...): pyfast reports an unreadable video in one line of its own."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's AV_LOG_QUIET; read when a capture opens
    import cv2

    cv2.utils.logging.setLogLevel(getattr(cv2.utils.logging, f"LOG_LEVEL_{opencv_level}"))


def frame_rate(capture, default: float) -> float:
    """An opened cv2.VideoCapture's frames per second, or ``default`` where it reports none
    (0, negative or NaN: some cameras and streams)."""
    import cv2

    fps = capture.get(cv2.CAP_PROP_FPS)
    return fps if math.isfinite(fps) and fps > 0 else default


def pixel_aspect(capture) -> Fraction:
    """The width : height of one of an opened cv2.VideoCapture's pixels, as its frames come out
    (the sample aspect ratio: 8/9 for NTSC DV, 1 for almost everything else; inverted for a
    video OpenCV turns a quarter to stand upright); 1 where the file does not say."""
    import cv2

    num, den = capture.get(cv2.CAP_PROP_SAR_NUM), capture.get(cv2.CAP_PROP_SAR_DEN)
    if not (math.isfinite(num) and math.isfinite(den) and num >= 1 and den >= 1):
        return Fraction(1)
    turned = capture.get(cv2.CAP_PROP_ORIENTATION_AUTO) and capture.get(cv2.CAP_PROP_ORIENTATION_META) % 180 == 90
    return Fraction(int(den), int(num)) if turned else Fraction(int(num), int(den))


_COMMON_RATES = (24000 / 1001, 24, 25, 30000 / 1001, 30, 48, 50, 60000 / 1001, 60, 90, 100, 120000 / 1001, 120, 144,
                 240)


def stamped_rate(times: Sequence[float], stated: float) -> float:
    """The frame rate a video's first frames are stamped at (``times``, seconds): one over their
    mean interval, leaving out gaps (over 1.5 times the median), where that is over 1 % above the
    ``stated`` rate (a variable-rate MP4 states its average: 17.8 fps for 60 fps frames followed
    by 10 fps ones), snapped to the nearest common rate within 0.5 %; else ``stated``, so a
    constant-rate video keeps its own (stamps rounded to milliseconds included)."""
    steps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    if len(steps) < 4:
        return stated
    steady = [step for step in steps if step <= 1.5 * steps[len(steps) // 2]]
    rate = len(steady) / sum(steady)
    if not stated * 1.01 < rate <= stated * 8:
        return stated
    nearest = min(_COMMON_RATES, key=lambda common: abs(rate / common - 1))
    return nearest if abs(rate / nearest - 1) <= 0.005 else rate


class VideoReader:
    """An opened video file: its properties and its frames as (H, W, 3) uint8 RGB, decoded by
    OpenCV or, for a codec OpenCV cannot decode (AV1 in opencv-python), by ``ffmpeg``
    (:class:`~pyfast.runtime.ffmpeg.FFmpegCapture`). ``capture`` is the cv2.VideoCapture-like
    object behind it (BGR ``read``). ``fps`` is the rate the file states, ``frame_rate`` the one
    its frames are stamped at (:func:`stamped_rate`; they differ for a variable-rate MP4).

    Raises:
        ValueError: the file cannot be opened as a video.
    """

    def __init__(self, path: Path, ffmpeg: str | None = None) -> None:
        import cv2

        from .ffmpeg import FFmpegCapture, open_failure

        self.path = path
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            reason = open_failure(ffmpeg, path) if ffmpeg is not None else None
            raise ValueError(f"{path} is not a readable video" + (f" (FFmpeg: {reason})" if reason else ""))
        self.fps = frame_rate(capture, 25.0)  # a file that does not say: PAL's
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.pixel_aspect = pixel_aspect(capture)
        times = []
        while len(times) < 32 and capture.grab():  # the first frames' times: the rate they are stamped at
            times.append(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000)
        capture.release()
        self.frame_rate = stamped_rate(times, self.fps)
        if times or ffmpeg is None or self.width < 1 or self.height < 1:
            self.capture = cv2.VideoCapture(str(path))  # from the first frame again
        else:
            properties = {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_COUNT: self.frame_count,
                          cv2.CAP_PROP_FRAME_WIDTH: self.width, cv2.CAP_PROP_FRAME_HEIGHT: self.height,
                          cv2.CAP_PROP_SAR_NUM: self.pixel_aspect.numerator,
                          cv2.CAP_PROP_SAR_DEN: self.pixel_aspect.denominator}
            self.capture = FFmpegCapture(path, self.width, self.height, ffmpeg, properties)

    @property
    def error(self) -> str | None:
        """Why decoding stopped early, where the decoder says (FFmpeg's message), else None."""
        return getattr(self.capture, "error", None)

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame, _ in self.timed():
            yield frame

    def timed(self) -> Iterator[tuple[np.ndarray, float | None]]:
        """The frames with their times in seconds from the stream's start, as the file stamps
        them (None where the decoder gives none: FFmpeg's pipe)."""
        import cv2

        stamped = isinstance(self.capture, cv2.VideoCapture)
        while True:
            ok, frame = self.capture.read()
            if not ok:
                return
            seconds = self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000 if stamped else None
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), seconds

    def close(self) -> None:
        self.capture.release()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FrameClock:
    """The tick of a constant ``rate`` at which each frame of a video starts, from the frames'
    times: writing each frame until the next one's tick keeps a variable-frame-rate video in
    step with its sound (frames closer than a tick are dropped, a gap is filled by holding the
    frame before it). A constant-rate video's frames get ticks 0, 1, 2, ... A missing time gives
    the next tick; a time going back (joined recordings) the next tick, the clock going on from
    there. A jump forward is held, as any gap: it cannot be told from a pause in a recording."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._origin = 0.0  # the time of tick 0, set by the first timed frame
        self._tick = -1
        self._time: float | None = None  # the last timed frame's

    def tick(self, seconds: float | None) -> int:
        if seconds is None or not math.isfinite(seconds):
            self._tick += 1
            return self._tick
        if self._time is None or seconds <= self._time:
            self._origin = seconds - (self._tick + 1) / self.rate  # this frame at the next tick
        self._time = seconds
        self._tick = max(round((seconds - self._origin) * self.rate), self._tick)
        return self._tick


def video_fourcc(target: Path) -> str:
    """The codec OpenCV writes ``target``'s container with."""
    suffix = target.suffix.lower()
    if suffix in (".mp4", ".m4v", ".mov"):
        return "mp4v"
    return "VP80" if suffix == ".webm" else "MJPG"  # WebM takes only VP8/VP9/AV1


_STDERR_LOCK = threading.Lock()


@contextmanager
def _stderr_muted() -> Iterator[None]:
    """Points the process's stderr (file descriptor 2) at /dev/null for the block: OpenCV's
    FFmpeg back end prints some notices with fprintf, past its log-level setting. One block
    at a time (threads would restore each other's copy); with no usable fd 2, mutes nothing."""
    import sys

    with _STDERR_LOCK:
        flush = getattr(sys.stderr, "flush", None)
        if flush is not None:
            flush()
        try:
            saved = os.dup(2)
        except OSError:  # stderr closed
            yield
            return
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def open_video_writer(path: Path, name: Path, fps: float, width: int, height: int, ffmpeg: str | None = None,
                      pixel_aspect: Fraction = Fraction(1)):
    """A video writer to ``path`` (often a temporary file) for ``name``'s container, with
    ``write(bgr_frame)`` and ``release()``: through ``ffmpeg`` where it has the container's
    encoder (:class:`~pyfast.runtime.ffmpeg.FFmpegWriter`: H.264, VP9 or Motion JPEG, the exact
    frame size and ``pixel_aspect``), else a cv2.VideoWriter with the codec of :func:`video_fourcc`
    (which rounds an odd frame size down to even and writes square pixels), with a RuntimeWarning
    if ``ffmpeg`` lacks that encoder or cannot be run.

    Raises:
        ValueError: neither can write that container here, naming ``name``.
    """
    import cv2

    from .ffmpeg import FFmpegWriter, encoders, video_encoder

    encoder = video_encoder(name)
    fourcc = video_fourcc(name)
    if ffmpeg is not None and encoder is not None:
        available = encoders(ffmpeg)
        if encoder in available:
            return FFmpegWriter(path, fps, width, height, ffmpeg, name=name, pixel_aspect=pixel_aspect)
        why = f"has no {encoder} encoder" if available else "cannot be run"
        warnings.warn(f"{name}: the FFmpeg at {ffmpeg} {why}, so OpenCV writes the pictures "
                      f"({fourcc}; an odd frame size is rounded down to even)", RuntimeWarning, stacklevel=2)
    if pixel_aspect != 1:
        looks = "wider" if pixel_aspect < 1 else "narrower"
        warnings.warn(f"{name}: OpenCV writes square pixels, so it will look {looks} "
                      f"than its source, whose pixels are {pixel_aspect.numerator}:{pixel_aspect.denominator} "
                      "(FFmpeg keeps them)", RuntimeWarning, stacklevel=2)
    with _stderr_muted():  # "tag 'VP80' is not supported by this container ... fallback": the file is fine
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise ValueError(f"cannot write video {name}: OpenCV has no {fourcc} writer for {name.suffix} files here "
                         f"(try .mp4 or .avi)")
    return writer


def stylize_video(stylizer: Stylizer, source: Path, target: Path, progress: bool = True,
                  sound: bool = True) -> StylizeStats:
    """Stylises a video (decoded by OpenCV, or by FFmpeg where OpenCV cannot: :class:`VideoReader`),
    keeping its frame rate and frame size (frames over max size are
    processed downscaled and scaled back up) and, with ``sound`` and an FFmpeg at hand
    (:mod:`pyfast.runtime.ffmpeg`), its audio, in step with the pictures. Writes ``target``
    with :func:`open_video_writer` (through FFmpeg where it can: H.264, VP9 for .webm, Motion
    JPEG for .avi; else OpenCV's mp4v for .mp4/.m4v/.mov, VP8 for .webm, MJPG otherwise); a run
    that fails or is interrupted leaves
    an existing ``target`` as it was. A video written without its sound says so in a warning.
    A variable-frame-rate source is retimed to the rate its frames are stamped at
    (:attr:`VideoReader.frame_rate`, :class:`FrameClock`). A
    damaged or truncated source (:func:`~pyfast.runtime.ffmpeg.container_damage`, where FFmpeg
    is at hand) is written as far as it can be read, with a warning.

    Raises:
        ValueError: ``source`` is not a readable video, its frames are too small, or
            ``target`` cannot be written; a ``PYFAST_FFMPEG`` that is not an executable
            (before any frame is stylised).
    """
    from .ffmpeg import container_damage, find_ffmpeg

    ffmpeg = find_ffmpeg()
    with VideoReader(source, ffmpeg) as video:
        width, height = video.width, video.height
        if width < MIN_SIDE or height < MIN_SIDE:
            raise ValueError(f"{source}: video frames are {width}x{height}; need at least {MIN_SIDE}x{MIN_SIDE}")
        with replaced_on_success(target) as temporary:
            writer = open_video_writer(temporary, target, video.frame_rate, width, height, ffmpeg,
                                       video.pixel_aspect)
            damage = container_damage(ffmpeg, source) if ffmpeg is not None else None
            try:
                if (frames := _write_stylized_frames(stylizer, video, writer, (height, width), progress)) == 0:
                    raise ValueError(f"{source}: no frame could be decoded ({undecodable_reason(video.error, ffmpeg)})")
            finally:
                writer.release()
            if damage:
                warnings.warn(f"{source} is damaged or cut short (FFmpeg: {damage}); {target} holds the {frames} "
                              "frame(s) that could be read", RuntimeWarning, stacklevel=2)
            if getattr(writer, "error", None):  # FFmpegWriter: FFmpeg failed finishing the file
                raise ValueError(writer.error)
            if sound:
                add_sound(temporary, source, target, ffmpeg)
    stylizer.stats.outputs.append(target)
    return stylizer.stats


def undecodable_reason(decoder_error: str | None, ffmpeg: str | None) -> str:
    """Why a video file gave no frame: the decoder's message, else what to try."""
    from .ffmpeg import GET_FFMPEG

    if decoder_error:
        return decoder_error
    return "damaged, or a codec OpenCV lacks" + ("" if ffmpeg else f"; FFmpeg decodes more: {GET_FFMPEG}")


def add_sound(pictures: Path, source: Path, target: Path, ffmpeg: str | None) -> None:
    """Puts ``source``'s audio streams into the (silent) stylised video file ``pictures``, which
    will become ``target`` (named in messages); warns, leaving it silent, when there is no
    FFmpeg or FFmpeg fails."""
    from .ffmpeg import GET_FFMPEG
    from .soundtrack import copy_soundtrack, probe_sound

    if ffmpeg is None:
        warnings.warn(f"{target} is written without the sound of {source}, if it has any: no FFmpeg to copy it with "
                      f"({GET_FFMPEG}; --no-sound silences this)",
                      RuntimeWarning, stacklevel=3)
        return
    try:
        sound = probe_sound(source, ffmpeg)
        if not sound.codecs:
            return
        with replaced_on_success(pictures) as with_sound:
            copy_soundtrack(pictures, source, with_sound, ffmpeg, sound)
    except RuntimeError as exc:
        warnings.warn(f"{target} is written without sound: {exc}", RuntimeWarning, stacklevel=3)


def _write_stylized_frames(stylizer: Stylizer, video: VideoReader, writer, size: tuple[int, int], progress: bool) -> int:
    """Stylises ``video``'s frames in batches into the open writer (:func:`open_video_writer`), at
    the (height, width) ``size`` and at ``video.frame_rate``, each frame written until the next
    one's tick (:class:`FrameClock`: a variable frame rate stays in step with the sound); returns
    how many decoded frames were stylised."""
    import cv2
    from tqdm.auto import tqdm

    height, width = size
    batch: list[tuple[np.ndarray, int]] = []
    clock = FrameClock(video.frame_rate)
    held: tuple[np.ndarray, int] | None = None  # the last stylised frame (BGR), its tick: written when the next comes
    stylised = 0

    def flush() -> None:
        nonlocal held, stylised
        if not batch:
            return
        styled = stylizer(np.stack([frame for frame, _ in batch]))
        stylised += len(batch)
        for frame, (_, tick) in zip(styled, batch):
            if frame.shape[:2] != (height, width):
                frame = resize(frame, height, width)
            if held is not None:
                for _ in range(tick - held[1]):  # none: two frames within a tick, the earlier dropped
                    writer.write(held[0])
            held = (cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), tick)
        batch.clear()

    frames = tqdm(video.timed(), total=video.frame_count or None, desc=f"stylize {video.path.name}", unit="frame",
                  disable=not progress)
    for frame, seconds in frames:
        batch.append((stylizer.fit(frame, str(video.path)), clock.tick(seconds)))
        if len(batch) >= stylizer.options.batch_size:
            flush()
    flush()
    if held is not None:
        writer.write(held[0])
    return stylised
