"""CDP screencast: JPEG frames from `Page.startScreencast`, assembled into a video.

Frames are written as they arrive (each acknowledged with `Page.screencastFrameAck`,
as the protocol requires), with their timestamps. `finish()` assembles them with
ffmpeg (found with shutil.which) into `<name>.mp4` (libx264, else ffmpeg's built-in
mpeg4), else into an animated GIF when Pillow is importable; otherwise the frames
directory is kept and the caller is told so. Frame count is capped; extra frames are
dropped and counted.
"""

from __future__ import annotations

import base64
import importlib.util
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession
from playwright.sync_api import Error as PlaywrightError

logger = logging.getLogger(__name__)

MAX_FRAMES = 3000
FFMPEG_TIMEOUT_S = 120.0


class Screencast:
    def __init__(
        self, cdp: CDPSession, frames_dir: Path, *, size: tuple[int, int] = (1280, 800),
        quality: int = 60, ffmpeg: str | None = None,
    ) -> None:
        self._cdp, self.frames_dir, self._size, self._quality = cdp, frames_dir, size, quality
        self._ffmpeg = ffmpeg if ffmpeg is not None else shutil.which("ffmpeg")
        self.frames: list[tuple[Path, float]] = []
        self.dropped = 0
        self._running = False

    def start(self) -> None:
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        self._cdp.on("Page.screencastFrame", self._on_frame)
        self._cdp.send("Page.startScreencast", {
            "format": "jpeg", "quality": self._quality, "maxWidth": self._size[0],
            "maxHeight": self._size[1], "everyNthFrame": 1})
        self._running = True

    def _on_frame(self, event: dict[str, Any]) -> None:
        try:
            self._cdp.send("Page.screencastFrameAck", {"sessionId": event["sessionId"]})
        except PlaywrightError as exc:
            logger.debug("screencast ack failed: %s", exc)
        if len(self.frames) >= MAX_FRAMES:
            self.dropped += 1
            return
        path = self.frames_dir / f"frame-{len(self.frames):05d}.jpg"
        path.write_bytes(base64.b64decode(event["data"]))
        stamp = float(event.get("metadata", {}).get("timestamp") or 0.0)
        self.frames.append((path, stamp))

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        try:
            self._cdp.send("Page.stopScreencast")
        except PlaywrightError as exc:
            logger.debug("stopScreencast failed: %s", exc)

    def finish(self, out_base: Path) -> Path | None:
        """Assemble the frames into out_base.(mp4|gif); None keeps the frames directory."""
        if self.dropped:
            logger.warning("screencast: dropped %d frames over the cap of %d", self.dropped,
                           MAX_FRAMES)
        if not self.frames:
            logger.info("screencast: no frames were painted")
            shutil.rmtree(self.frames_dir, ignore_errors=True)
            return None
        video = self._ffmpeg_video(out_base) or assemble_gif(self.frames, out_base)
        if video is None:
            logger.warning("screencast: neither ffmpeg nor Pillow available; frames kept in %s",
                           self.frames_dir)
            return None
        shutil.rmtree(self.frames_dir, ignore_errors=True)
        return video

    def _ffmpeg_video(self, out_base: Path) -> Path | None:
        if not self._ffmpeg:
            return None
        listing = self.frames_dir / "frames.txt"
        listing.write_text(_concat_list(self.frames), encoding="utf-8")
        out = out_base.with_suffix(".mp4")
        for codec in ("libx264", "mpeg4"):
            cmd = [self._ffmpeg, "-nostdin", "-y", "-loglevel", "error", "-f", "concat",
                   "-safe", "0", "-i", str(listing), "-vf",
                   "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p", "-fps_mode", "vfr",
                   "-c:v", codec, str(out)]
            logger.info("screencast: assembling %d frames with ffmpeg (%s)", len(self.frames),
                        codec)
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                      timeout=FFMPEG_TIMEOUT_S, start_new_session=True)
            except (OSError, subprocess.TimeoutExpired) as exc:
                logger.warning("screencast: ffmpeg failed: %s", exc)
                return None
            if done.returncode == 0 and out.exists():
                return out
            logger.info("screencast: ffmpeg %s failed: %s", codec, done.stderr.strip()[-300:])
        return None


def _concat_list(frames: list[tuple[Path, float]]) -> str:
    """ffmpeg concat-demuxer input with per-frame durations from CDP timestamps."""
    lines = []
    for i, (path, stamp) in enumerate(frames):
        following = frames[i + 1][1] if i + 1 < len(frames) else stamp + 0.1
        duration = min(max(following - stamp, 0.02), 5.0)
        lines += [f"file '{path.name}'", f"duration {duration:.3f}"]
    lines.append(f"file '{frames[-1][0].name}'")  # the demuxer ignores the last duration
    return "\n".join(lines) + "\n"


def assemble_gif(frames: list[tuple[Path, float]], out_base: Path) -> Path | None:
    if importlib.util.find_spec("PIL") is None:
        return None
    from PIL import Image  # optional dependency, imported only when present

    images = [Image.open(path) for path, _ in frames]
    try:
        durations = [max(int((b[1] - a[1]) * 1000), 20) for a, b in zip(frames, frames[1:],
                                                                       strict=False)] + [100]
        out = out_base.with_suffix(".gif")
        images[0].save(out, save_all=True, append_images=images[1:], duration=durations,
                       loop=0)
        return out
    finally:
        for image in images:
            image.close()
