"""The work of one input, the same whichever engine runs it: read its bytes,
decode and analyse an image, or run the video pipeline on a video.

Both engines call these functions (the local one in threads, the Ray one in
actors and tasks), so their records are the same, and the same as
``ferkit analyze`` writes: an image is decoded from its bytes by
:func:`ferkit.imageio.load_image`, which says what is wrong with a bad one in
the words it uses for a path.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from ferkit.analyzer import AnalyzerOptions
from ferkit.errors import InputError
from ferkit.results import ImageResult
from ferkit.video.options import VideoOptions

from .plan import Item, is_uri

#: Images an engine hands to one worker at a time.
DEFAULT_BATCH_SIZE = 16


@dataclass(frozen=True)
class BatchSettings:
    """What every worker needs to analyse an input (it travels to Ray workers)."""

    analyzer: AnalyzerOptions = field(default_factory=AnalyzerOptions)
    crop: bool = False
    video: VideoOptions | None = None
    batch_size: int = DEFAULT_BATCH_SIZE

    def with_threads(self, threads: int) -> "BatchSettings":
        """These settings with ``threads`` inference threads where the user left it automatic."""
        if self.analyzer.threads:
            return self
        return replace(self, analyzer=replace(self.analyzer, threads=threads))

    def describe(self) -> dict:
        """The settings that decide the records (threads and batch size do not)."""
        analyzer = self.analyzer.to_dict()
        del analyzer["threads"]
        d = {"analyzer": analyzer, "crop": self.crop}
        if self.video is not None:
            d["video"] = {**self.video.to_dict(), "annotate": self.video.annotate,
                          "audio": self.video.audio}
        return d


def read_source(source: str) -> bytes:
    """The bytes of a local file or an object-store URI (``OSError`` when they cannot be read)."""
    if is_uri(source):
        import pyarrow.fs as pafs

        fs, path = pafs.FileSystem.from_uri(source)
        with fs.open_input_stream(path) as f:
            return f.readall()
    with open(source, "rb") as f:
        return f.read()


def read_failure(name: str, error: OSError) -> str:
    return f"cannot read {name}: {getattr(error, 'strerror', None) or error}"


class ImageWork:
    """One loaded :class:`~ferkit.analyzer.Analyzer` analysing images from their bytes."""

    def __init__(self, settings: BatchSettings) -> None:
        from ferkit.analyzer import Analyzer

        self.analyzer = Analyzer.from_options(settings.analyzer)
        self.crop = settings.crop

    @property
    def labels(self) -> list[str]:
        return self.analyzer.labels

    def analyse(self, name: str, data: bytes) -> ImageResult:
        """The result of the image in ``data``; errors are results (``error`` set), as
        :meth:`~ferkit.analyzer.Analyzer.analyze_files` makes them."""
        from ferkit.imageio import load_image

        stream = io.BytesIO(data)
        stream.name = name   # what load_image's messages call the image
        try:
            rgb = load_image(stream)
        except (InputError, OSError) as e:
            return ImageResult(name, error=str(e), labels=self.labels)
        try:
            return self.analyzer.analyze(rgb, file=name, crop=self.crop)
        except Exception as e:  # one bad image must not end a batch
            return ImageResult(name, rgb.shape[1], rgb.shape[0], labels=self.labels,
                               error=f"analysis failed: {type(e).__name__}: {e}")

    def run(self, item: Item) -> ImageResult:
        """Read and analyse one item."""
        try:
            data = read_source(item.source)
        except OSError as e:
            return ImageResult(item.name, error=read_failure(item.name, e), labels=self.labels)
        return self.analyse(item.name, data)


@dataclass
class VideoOutcome:
    """A video's analysis: its :class:`~ferkit.video.VideoResult` (``None`` when the
    video could not be opened), the output files' contents by name, and the error."""

    item: Item
    result: object | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None


def run_video(item: Item, settings: BatchSettings, analyzer=None) -> VideoOutcome:
    """Analyse one video with :func:`ferkit.video.analyze_video` into a temporary
    folder and return what it wrote. Errors of the input are outcomes, not exceptions."""
    from ferkit.video.pipeline import analyze_video

    with tempfile.TemporaryDirectory(prefix="ferkit-batch-") as tmp:
        try:
            source = item.source
            if is_uri(source):   # the video decoder wants a file: copy it here first
                source = os.path.join(tmp, "input" + Path(source).suffix)
                _copy_uri(item.source, source)
            out = Path(tmp) / "out"
            if analyzer is None:
                run = analyze_video(source, settings.video, out_dir=out,
                                    **{k: getattr(settings.analyzer, k)
                                       for k in AnalyzerOptions.__dataclass_fields__})
            else:
                run = analyze_video(source, settings.video, analyzer=analyzer, out_dir=out)
            result = run.collect()
        except InputError as e:
            return VideoOutcome(item, error=str(e))
        except OSError as e:
            return VideoOutcome(item, error=read_failure(item.name, e))
        result.source = item.name   # not the path a worker opened (absolute, or a copy)
        result.info = replace(result.info, source=item.name)
        files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
        return VideoOutcome(item, result, files, result.error)


def _copy_uri(uri: str, path: str) -> None:
    import pyarrow.fs as pafs

    fs, remote = pafs.FileSystem.from_uri(uri)
    with fs.open_input_stream(remote) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


__all__ = ["DEFAULT_BATCH_SIZE", "BatchSettings", "ImageWork", "VideoOutcome", "read_source",
           "run_video"]
