"""What pyfast's FFmpeg video path costs and keeps (RESULTS.md, video section):

1. CPU per frame of each encoder `FFmpegWriter` uses (and of VP9's "good" deadline, the one not
   taken), on 60 frames of a stylised 1280x720 photo panning sideways: FFmpeg's user + system
   time (the child process's rusage), median of 3 runs, and the file size.
2. Chroma placement of odd sizes in 4:2:0: a 47x35 picture cut from a 48x36 one, written by
   `FFmpegWriter` (padded to even, cropped back) and by FFmpeg left alone (no padding); mean
   absolute difference of the stored chroma planes from the 48x36 file's, last row and column
   excluded (the padding is what FFmpeg-alone lacks).
3. Opening cost of `VideoReader` (OpenCV open + the first 32 frames' times + reopen) against a bare
   cv2.VideoCapture open, on a 1280x720 H.264 file: median of 20.
4. The damage scan `stylize` runs on each source video (`container_damage`: one pass copying
   the video packets, nothing decoded), on a 60 s 1280x720 H.264 file at 8 Mbit/s with sound:
   wall time, median of 5, and what it reports for the file cut in half.

Run: .venv/bin/python bench/scripts/video_io.py
"""

import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from pyfast.data import read_image, resize, sample_images
from pyfast.runtime import Engine
from pyfast.runtime import ffmpeg as ff
from pyfast.runtime.stylize import Stylizer, VideoReader
from pyfast.zoo import get_style

FFMPEG = ff.find_ffmpeg()
WORK = Path(tempfile.mkdtemp(prefix="pyfast-video-io-"))


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def panning_frames(n: int = 60, size: tuple[int, int] = (720, 1280)) -> list[np.ndarray]:
    photo = resize(read_image(sample_images()[2]).rgb, size[0], size[1] + 4 * n)
    styled = Stylizer(Engine(get_style("mosaic").onnx, providers="cpu"))(photo[None])[0]
    return [np.ascontiguousarray(styled[:, 4 * i: 4 * i + size[1], ::-1]) for i in range(n)]  # BGR


def encoder_costs() -> None:
    frames = panning_frames()
    variants = [("H.264 veryfast CRF 18 (.mp4)", ".mp4", None), ("VP9 realtime cpu-used 8 (.webm)", ".webm", None),
                ("VP9 good cpu-used 4 (.webm, not used)", ".webm", ("-deadline", "good", "-cpu-used", "4")),
                ("Motion JPEG q 3 (.avi)", ".avi", None)]
    print("| encoder | CPU ms / frame (1280x720) | file KiB (60 frames) |\n|---|---:|---:|")
    for label, suffix, override in variants:
        saved = ff._ENCODER_OPTIONS["libvpx-vp9"]
        if override:
            ff._ENCODER_OPTIONS["libvpx-vp9"] = ("-crf", "28", "-b:v", "0", *override, "-row-mt", "1", *ff._BT601)
        runs = []
        try:
            for _ in range(3):
                path = WORK / f"enc{suffix}"
                before = child_cpu_seconds()
                writer = ff.FFmpegWriter(path, 30.0, 1280, 720, FFMPEG)
                for frame in frames:
                    writer.write(frame)
                writer.close()
                runs.append((child_cpu_seconds() - before) / len(frames) * 1e3)
        finally:
            ff._ENCODER_OPTIONS["libvpx-vp9"] = saved
        print(f"| {label} | {statistics.median(runs):.1f} | {path.stat().st_size / 1024:.0f} |")


def chroma_planes(path: Path, pixels: str, width: int, height: int) -> np.ndarray:
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", pixels, "-"],
                         capture_output=True, check=True).stdout
    luma, half = width * height, ((height + 1) // 2, (width + 1) // 2)
    return np.frombuffer(raw, np.uint8).reshape(-1, luma + 2 * half[0] * half[1])[:, luma:].reshape(-1, 2, *half)


def chroma_placement() -> None:
    rng = np.random.default_rng(0)
    frames = [np.repeat(np.repeat(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8), 4, 0), 4, 1) for _ in range(4)]
    print("\n| container | FFmpegWriter (padded) | FFmpeg alone |\n|---|---:|---:|")
    for suffix, encoder in ((".webm", "libvpx-vp9"), (".avi", "mjpeg")):
        pixels = ff._pixel_format(encoder, 47, 35)
        for name, size in (("even", (48, 36)), ("odd", (47, 35))):
            writer = ff.FFmpegWriter(WORK / f"{name}{suffix}", 12.0, *size, FFMPEG)
            for frame in frames:
                writer.write(np.ascontiguousarray(frame[:size[1], :size[0]]))
            writer.close()
        alone = WORK / f"alone{suffix}"
        subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", "47x35", "-r", "12",
                        "-i", "-", "-c:v", encoder, *ff._ENCODER_OPTIONS[encoder], "-pix_fmt", pixels, str(alone)],
                       input=b"".join(np.ascontiguousarray(f[:35, :47]).tobytes() for f in frames), check=True)
        even = chroma_planes(WORK / f"even{suffix}", pixels, 48, 36).astype(int)[..., :17, :23]
        errors = [np.abs(chroma_planes(p, pixels, 47, 35).astype(int)[..., :17, :23] - even).mean()
                  for p in (WORK / f"odd{suffix}", alone)]
        print(f"| {suffix} ({pixels}) | {errors[0]:.2f} | {errors[1]:.2f} |")


def open_cost() -> None:
    clip = WORK / "clip.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=2",
                    "-c:v", "libx264", str(clip)], check=True)

    def median_ms(open_once) -> float:
        times = []
        for _ in range(20):
            start = time.perf_counter()
            open_once()
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)

    bare = median_ms(lambda: cv2.VideoCapture(str(clip)).release())
    reader = median_ms(lambda: VideoReader(clip, FFMPEG).close())
    print(f"\nOpening a 1280x720 H.264 file, median of 20: cv2.VideoCapture {bare:.1f} ms, VideoReader {reader:.1f} ms")


def damage_scan_cost() -> None:
    clip = WORK / "minute.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=60",
                    "-f", "lavfi", "-i", "sine=duration=60", "-vf", "noise=alls=12:allf=t", "-c:v", "libx264",
                    "-preset", "ultrafast", "-b:v", "8M", "-c:a", "aac", "-movflags", "+faststart", str(clip)],
                   check=True)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        found = ff.container_damage(FFMPEG, clip)
        times.append(time.perf_counter() - start)
    cut = WORK / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    size = clip.stat().st_size / 2**20
    print(f"\nDamage scan of a 60 s 1280x720 H.264 file ({size:.0f} MiB), median of 5: {statistics.median(times) * 1e3:.0f} ms "
          f"({statistics.median(times) / size * 1024:.1f} s per GiB); reports {found!r} for it and "
          f"{ff.container_damage(FFMPEG, cut)!r} for its first half")


if __name__ == "__main__":
    print(f"FFmpeg: {FFMPEG}")
    try:
        encoder_costs()
        chroma_placement()
        open_cost()
        damage_scan_cost()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
