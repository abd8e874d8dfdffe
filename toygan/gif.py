"""A GIF written frame by frame as frames arrive, so a long run never holds its frames in memory.

Pillow (and imageio's Pillow plugin) keep every frame until the file is closed, so frames are
quantised one at a time by Pillow and streamed through FFmpeg's GIF muxer with PyAV. The file is
written as `NAME.part` and renamed when closed, so a finished name always holds a whole GIF.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


class GifWriter:
    """`append` RGB uint8 frames of one size (others are resized to the first); `close` finishes the file."""

    def __init__(self, path: Path, fps: float):
        self.path = Path(path)
        self.part_path = self.path.with_name(self.path.name + ".part")
        self._container = av.open(str(self.part_path), mode="w", format="gif")
        self._stream = self._container.add_stream("gif", rate=Fraction(fps).limit_denominator(1000))
        self._stream.pix_fmt = "pal8"
        self._size: tuple[int, int] | None = None
        self.frames_written = 0

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

    def __enter__(self) -> GifWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
