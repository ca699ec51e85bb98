"""What a worker does with an upload: check it, pick the model, colorize, make quicklooks.

* :func:`inspect_upload` (cheap, before queueing): the file's kind from its first bytes (PNG,
  JPEG or TIFF, whatever the client called it), its declared size checked against the pixel
  limits *before* any pixel is decoded (decompression bombs: :func:`sarcolor.data.io.check_size`)
  and its tiles against the work a job may take (:func:`job_tiles`: a 1×400,000,000 strip is
  2 million tiles), and the chosen model's fit (bands, input kind).
* :func:`run_job` (in a worker thread): PNG/JPEG → :class:`~sarcolor.inference.colorizer.Colorizer`
  on the whole image → ``result.png`` of the same size; TIFF →
  :func:`~sarcolor.inference.scene.colorize_scene` → ``result.tif`` on the input's grid. Both
  also write ``preview.png`` (the input) and ``quicklook.png`` (the result), at most
  :data:`QUICKLOOK_SIDE` pixels a side, for the page.

Progress is counted in tiles: the colorizer is seen through :class:`_TileCounter`, which
counts the tiles of every ``predict`` call. Cancellation (:meth:`~sarcolor.app.jobs.Job.request_cancel`,
or the server stopping) is checked before every batch of tiles and between stages.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sarcolor.app.errors import DISK_FULL, ApiError, is_disk_full, public_message
from sarcolor.app.jobs import Job
from sarcolor.data.geotiff import decide_scale, open_raster, read_window, sar_unit, select_bands
from sarcolor.data.io import MAX_PIXELS, check_size, read_image, to_uint8, write_rgb_png
from sarcolor.data.preprocess import to_grey
from sarcolor.errors import SarcolorError
from sarcolor.inference.colorizer import TILE, Colorizer, file_pixels
from sarcolor.inference.files import COLORIZE_BYTES_PER_PIXEL, COLORIZE_OVERHEAD_BYTES
from sarcolor.inference.modelinfo import ModelInfo
from sarcolor.inference.modelset import ModelRegistry, SelectionError
from sarcolor.inference.options import InferenceOptions, SceneOptions
from sarcolor.inference.scene import colorize_scene
from sarcolor.memory import OverBudget
from sarcolor.terrain.routing import TerrainRouter
from sarcolor.tiling import tile_starts

log = logging.getLogger("sarcolor.app")
QUICKLOOK_SIDE = 1024
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
    (b"II+\x00", ".tif"),  # BigTIFF
    (b"MM\x00+", ".tif"),
)


class Cancelled(Exception):
    """The server is stopping, or the client left: the job ends between two batches of tiles."""


class Colorizers:
    """One :class:`Colorizer` per model, loaded on first use and shared by the workers
    (an eval-mode generator keeps no state between calls)."""

    def __init__(self, device: str = "auto") -> None:
        self.device = device
        self.stopping = threading.Event()  # set at shutdown: running jobs stop at their next batch
        self._loaded: dict[str, Colorizer] = {}
        self._lock = threading.Lock()

    def get(self, model: ModelInfo) -> Colorizer:
        with self._lock:
            if model.id not in self._loaded:
                log.info("loading model %s from %s", model.id, model.path)
                self._loaded[model.id] = Colorizer(model.path, self.device)
            return self._loaded[model.id]


def input_path(job: Job) -> Path:
    return next(iter(sorted(job.folder.glob("input.*"))), job.folder / "input")


def job_tiles(width: int, height: int, overlap: int = InferenceOptions().overlap) -> int:
    """Tiles the model runs on for a ``width × height`` image (one a side at least)."""
    return len(tile_starts(height, TILE, overlap)) * len(tile_starts(width, TILE, overlap))


def inspect_upload(job: Job, upload: Path, max_image_pixels: int, max_job_tiles: int) -> None:
    """Kind, size and work of the upload, checked before anything is decoded; renames it ``input.*``.

    Raises:
        ApiError: 400 not an image we read; 413 more pixels or tiles than allowed.
    """
    with open(upload, "rb") as fh:
        head = fh.read(16)
    suffix = next((s for sig, s in _SIGNATURES if head.startswith(sig)), None)
    if suffix is None:
        raise ApiError(400, f"{job.filename} is not a PNG, JPEG or GeoTIFF image")
    path = upload.rename(job.folder / f"input{suffix}")
    job.kind = "scene" if suffix == ".tif" else "image"
    job.width, job.height = _declared_size(job, path)
    try:
        check_size(Path(job.filename), job.width, job.height)
    except SarcolorError as err:
        raise ApiError(413, str(err)) from None
    if job.kind == "image" and job.width * job.height > max_image_pixels:
        raise ApiError(
            413,
            f"{job.filename}: {job.width}×{job.height} pixels is over the server's "
            f"{max_image_pixels / 1e6:g} MP limit for PNG/JPEG (colorized in memory); send it as a GeoTIFF",
        )
    tiles = job_tiles(job.width, job.height)
    if tiles > max_job_tiles:
        raise ApiError(
            413,
            f"{job.filename}: {job.width}×{job.height} pixels is {tiles} tiles of {TILE}², over the "
            f"server's limit of {max_job_tiles} tiles a job (sarcolor serve --max-job-tiles raises it)",
        )


def _declared_size(job: Job, path: Path) -> tuple[int, int]:
    """Width and height from the header only."""
    try:
        if job.kind == "image":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as img:
                    return img.width, img.height
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.width, src.height
    except Exception:  # any decoder failure: the file is not a readable image
        raise ApiError(400, f"{job.filename} is not a readable {path.suffix[1:].upper()} image") from None


def check_fit(job: Job, model: ModelInfo) -> None:
    """422 when the model cannot take this input (bands, input kind)."""
    if job.kind == "image" and len(model.bands) > 1:
        raise ApiError(
            422,
            f"model {model.id} takes {len(model.bands)} SAR bands ({', '.join(model.bands)}); a PNG or JPEG "
            "holds one: send a GeoTIFF with those bands",
        )
    if job.kind == "scene":
        if model.input != "sar":
            raise ApiError(
                422, f"model {model.id} takes {model.input} input; GeoTIFF scenes need a SAR model"
            )
        try:
            with open_raster(input_path(job)) as src:
                select_bands(src, model.bands)
        except SarcolorError as err:
            raise ApiError(422, _public(job, err)) from None


def choose(job: Job, registry: ModelRegistry, image_for_classifier=None) -> None:
    """Set ``job.choice`` (raises ApiError 422 when nothing fits)."""
    try:
        job.choice = registry.choose(job.model, job.terrain, image_for_classifier)
    except SelectionError as err:
        raise ApiError(422, str(err)) from None
    check_fit(job, job.choice.model)


def run_job(job: Job, registry: ModelRegistry, colorizers: Colorizers) -> None:
    """Colorize ``job`` (worker thread). Failures end in ``job.fail``; nothing is raised."""
    job.state, job.stage = "running", "starting"
    check = _Canceller(job, colorizers.stopping)
    try:
        check()
        if job.choice is None:
            job.stage = "finding the terrain"
            choose(job, registry, lambda: _classifier_input(job, registry))
        assert job.choice is not None
        job.stage = "loading the model"
        colorizer = colorizers.get(job.choice.model)
        if colorizer.condition_terrains:  # a conditioned model is told the chosen terrain
            colorizer = TerrainRouter({job.choice.terrain: colorizer}, terrain=job.choice.terrain)  # type: ignore[assignment]
        check()
        job.stage = "colorizing"
        if job.kind == "scene":
            _run_scene(job, colorizer, check)
        else:
            _run_image(job, colorizer, check)
        job.state, job.stage = "done", "done"
    except Cancelled:
        stopping = colorizers.stopping.is_set() and not job.cancel.is_set()
        reason = "the server is stopping" if stopping else job.cancel_reason or "the job was cancelled"
        log.info("job %s cancelled while %s: %s", job.id, job.stage, reason)
        job.mark_cancelled(503 if stopping else 409, reason)
    except ApiError as err:
        job.fail(err.status, err.message)
    except Exception as err:
        if is_disk_full(err):
            log.warning("job %s failed: %s", job.id, err)
            job.fail(507, DISK_FULL)
        elif isinstance(err, SarcolorError):  # more memory than there is: too large, as more tiles
            job.fail(413 if isinstance(err, OverBudget) else 400, _public(job, err))
        else:
            log.exception("job %s failed", job.id)
            job.fail(500, "colorizing failed because of an internal error (the server log has the details)")
    finally:
        input_path(job).unlink(missing_ok=True)


def _run_image(job: Job, colorizer: Colorizer, check: _Canceller) -> None:
    image = _read_upload(input_path(job))
    job.tiles_total = job_tiles(image.shape[1], image.shape[0], colorizer.overlap)
    counter = _TileCounter(colorizer, job, check)
    rgb = Colorizer.colorize_many(counter, [image])[0]  # type: ignore[arg-type]  # the counting view
    check()
    job.stage = "writing the result"
    pixels = file_pixels(rgb, colorizer.config)  # (H, W) for a grey model: a 1-band PNG
    write_rgb_png(job.result, pixels)
    _save_small(to_uint8(_grey(image)[..., 0]), job.preview)
    _save_small(to_uint8(pixels), job.quicklook)


def _read_upload(path: Path) -> np.ndarray:
    """A PNG/JPEG upload, refused from its header (413) unless colorizing it whole fits in memory,
    as ``sarcolor colorize`` budgets it."""
    return read_image(path, COLORIZE_BYTES_PER_PIXEL, COLORIZE_OVERHEAD_BYTES, pad_to=TILE)


def _run_scene(job: Job, colorizer: Colorizer, check: _Canceller) -> None:
    path = input_path(job)
    with open_raster(path) as src:
        job.tiles_total = job_tiles(src.width, src.height, colorizer.overlap)
    _write_preview(job, path, colorizer.config.preprocess)
    check()
    report = colorize_scene(
        _TileCounter(colorizer, job, check),  # type: ignore[arg-type]
        path,
        job.result,
        SceneOptions(),
        progress=False,
        log=lambda line: log.info("job %s: %s", job.id, line),
    )
    job.notes.append(f"SAR scale {report.scale_reason}; {report.tiles} tiles, {report.skipped} without data")
    check()
    job.stage = "writing the quicklook"
    _write_quicklook(job)


class _Canceller:
    """Called between stages and batches: raises :class:`Cancelled` once the job is cancelled or
    the server is stopping."""

    def __init__(self, job: Job, stopping: threading.Event) -> None:
        self._job, self._stopping = job, stopping

    def __call__(self) -> None:
        if self._stopping.is_set() or self._job.cancel.is_set():
            raise Cancelled()


class _TileCounter:
    """A :class:`Colorizer` whose ``predict`` also counts tiles into ``job.tiles_done`` (and
    raises :class:`Cancelled` before a batch once the job is cancelled)."""

    def __init__(self, colorizer: Colorizer, job: Job, check: _Canceller) -> None:
        self._colorizer, self._job, self._check = colorizer, job, check

    def __getattr__(self, name: str):
        return getattr(self._colorizer, name)

    def predict(self, tiles, terrains=None, stats=None):
        self._check()
        out = self._colorizer.predict(tiles, terrains, stats)
        self._job.tiles_done += len(tiles)
        return out


def _small_shape(height: int, width: int) -> tuple[int, int]:
    factor = max(1.0, max(height, width) / QUICKLOOK_SIDE)
    return max(1, round(height / factor)), max(1, round(width / factor))


def _save_small(pixels: np.ndarray, path: Path) -> None:
    """Save uint8 grey (H, W), grey+alpha (H, W, 2), RGB or RGBA as a PNG of at most QUICKLOOK_SIDE."""
    image = Image.fromarray(pixels)
    h, w = _small_shape(image.height, image.width)
    if (h, w) != (image.height, image.width):
        image = image.resize((w, h), Image.Resampling.BOX)
    image.save(path, format="PNG")


def _scene_grey(path: Path, pre) -> tuple[np.ndarray, np.ndarray]:
    """The first model band of a scene, decimated: (h, w) float in [0, 1] and its validity."""
    with open_raster(path) as src:
        indexes = select_bands(src, pre.bands)
        scale, _ = decide_scale(src, indexes, "auto")
        values, valid = read_window(src, indexes[:1], out_shape=_small_shape(src.height, src.width))
    unit = sar_unit(values, scale, pre.ranges[:1], pre.calibration)[0].numpy()
    return np.where(valid, unit, 0.0).astype(np.float32), valid


def _write_preview(job: Job, path: Path, pre) -> None:
    grey, valid = _scene_grey(path, pre)
    _save_small(np.stack([to_uint8(grey), valid.astype(np.uint8) * 255], axis=-1), job.preview)


def _write_quicklook(job: Job) -> None:
    import rasterio

    with rasterio.open(job.result) as src:
        shape = _small_shape(src.height, src.width)
        bands = [1, 2, 3] if src.count >= 3 else [1]  # RGB, or a grey model's one band
        pixels = src.read(bands, out_shape=(len(bands), *shape))
        mask = src.read_masks(1, out_shape=shape)
    _save_small(np.concatenate([pixels, mask[None]]).transpose(1, 2, 0), job.quicklook)


def _classifier_input(job: Job, registry: ModelRegistry) -> np.ndarray:
    """(H, W, 1) SAR in [0, 1] for the terrain classifier (a scene: decimated)."""
    path = input_path(job)
    if job.kind == "scene":
        from sarcolor.config import Config

        # the first band, in the default range, before a model is chosen
        pre = Config().replace(preprocess={"bands": list(registry.models[0].bands)}).preprocess
        return _scene_grey(path, pre)[0][..., None]
    return _grey(_read_upload(path))


def _grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 1|3) → (H, W, 1) with the luma the models' preprocessing uses."""
    if image.shape[-1] == 1:
        return image
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    return to_grey(tensor)[0].permute(1, 2, 0).numpy()


def _public(job: Job, err: Exception) -> str:
    return public_message(str(err), {input_path(job): job.filename, job.folder: "upload"})


__all__ = ["MAX_PIXELS", "Colorizers", "check_fit", "choose", "inspect_upload", "job_tiles", "run_job"]
