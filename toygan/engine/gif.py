"""A GIF written frame by frame as frames arrive, so a long run never holds its frames in memory.

Pillow (and imageio's Pillow plugin) keep every frame until the file is closed, so frames are
quantised one at a time by Pillow and streamed through FFmpeg's GIF muxer with PyAV. The file is
written as `NAME.part` and renamed when closed, so a finished name always holds a whole GIF. A resumed
run starts its GIF with the frames of the earlier one, read back one at a time; after a hard kill the
last of them may be missing, and the resumed run draws it again from the checkpoint. A GIF left by an error
(a full disk, an abort) stays `NAME.part`, beside the earlier one, as after a hard kill: `toygan resume`
rebuilds it from them.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import imageio.v3 as iio
import numpy as np
from PIL import Image


class GifWriter:
    """`append` RGB uint8 frames of one size (others are resized to the first); `close` finishes the file."""

    def __init__(self, path: Path, fps: float, keep_frames: int | None = None):
        """`keep_frames` (on resume): start with that many frames of the GIF already at `path`."""
        self.path = Path(path)
        self.part_path = self.path.with_name(self.path.name + ".part")
        self._earlier = self.path.with_name(self.path.name + ".earlier")
        if keep_frames and not self._earlier.exists():
            # A finished GIF, or after a hard kill the partial one: set it aside to read from.
            for source in (self.path, self.part_path):
                if source.exists():
                    source.replace(self._earlier)
                    break
        # flush_packets: each frame reaches the file as soon as the muxer lets go of it (it holds the
        # latest one back to time it), so after a hard kill the file holds all frames but the last.
        self._container = av.open(str(self.part_path), mode="w", format="gif", options={"flush_packets": "1"})
        self._stream = self._container.add_stream("gif", rate=Fraction(fps).limit_denominator(1000))
        self._stream.pix_fmt = "pal8"
        self._size: tuple[int, int] | None = None
        self.frames_written = 0
        if keep_frames and self._earlier.exists():
            self._copy_frames(self._earlier, keep_frames)

    def _copy_frames(self, source: Path, count: int) -> None:
        """Stream up to `count` frames from `source`; a GIF cut short by a hard kill yields what it holds."""
        try:
            for frame in iio.imiter(source):
                if self.frames_written == count:
                    break
                self.append(frame[..., :3])
        except Exception:  # a truncated file ends where its last whole frame ends
            pass

    def append(self, frame_HxWx3: np.ndarray) -> None:
        image = Image.fromarray(np.ascontiguousarray(frame_HxWx3[..., :3]))
        if self._size is None:
            self._size = image.size
            self._stream.width, self._stream.height = image.size
        elif image.size != self._size:
            image = image.resize(self._size)
        paletted = image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        colours_Cx3 = np.asarray(paletted.getpalette(), np.uint8).reshape(-1, 3)
        palette_256x4 = np.zeros((256, 4), np.uint8)
        palette_256x4[: len(colours_Cx3), 0] = 255
        palette_256x4[: len(colours_Cx3), 1:] = colours_Cx3
        av_frame = av.VideoFrame.from_ndarray((np.asarray(paletted), palette_256x4), format="pal8")
        av_frame.pts = self.frames_written
        self._container.mux(self._stream.encode(av_frame))
        self.frames_written += 1

    def close(self) -> None:
        """Flush and rename to the final name; a GIF with no frames is not left behind."""
        if self._container is None:
            return
        if self.frames_written:
            self._container.mux(self._stream.encode(None))
        self._container.close()
        self._container = None
        if self.frames_written:
            self.part_path.replace(self.path)
        else:
            self.part_path.unlink(missing_ok=True)
        self._earlier.unlink(missing_ok=True)

    def abandon(self) -> None:
        """Stop after an error without finishing: `NAME.part` and the earlier GIF stay for a resume."""
        if self._container is None:
            return
        try:
            self._container.close()
        except (OSError, av.error.FFmpegError):
            pass  # the error that made us stop is already on its way
        self._container = None

    def __enter__(self) -> GifWriter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()
