"""Response bodies of the API, as pydantic models (they document the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every error: one sentence naming the problem."""

    error: str = Field(examples=["scene.png is not a PNG, JPEG or GeoTIFF image"])


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ModelOut(BaseModel):
    """A model the server can use (``GET /api/models``)."""

    id: str = Field(description="the name to send as the 'model' form field")
    name: str = Field(description="the run folder's name")
    terrains: list[str] = Field(description="terrains it was trained on; empty: every terrain")
    input: str = Field(description="'sar' (Sentinel-1 grey) or 'optical-l' (the L* of an optical image)")
    target: str = Field(
        description="'rgb', 'lab', 'ab' or 'grey' (one channel: a 1-band PNG or GeoTIFF): what the "
        "generator predicts"
    )
    bands: list[str] = Field(description="SAR bands, one input channel each (e.g. ['VV'])")
    step: int = Field(description="training steps of the checkpoint")
    sar_scale: str
    despeckle: str | None
    metrics: dict[str, Any] | None = Field(
        description="RUN/eval/test.json condensed: split, summary (per group: n, scenes, model and "
        "baselines scores), baselines (descriptions), flags; null when the run was not evaluated"
    )
    arch: str = Field(description="the generator in words: sarcolor's U-Net, or an imported layout")
    imported_from: str | None = Field(
        description="'pix2pix' or 'sar2optical' for a generator brought by `sarcolor import`, else null"
    )
    conditioned: bool = Field(
        False,
        description="one generator that takes the terrain as an input (train --condition terrain); its "
        "terrains are those it knows, and it needs one (named, or found by the terrain classifier)",
    )


class InfoOut(BaseModel):
    """Limits and load of the server (``GET /api/info``)."""

    version: str
    workers: int
    queue_size: int
    in_progress: int = Field(description="requests holding a place (uploading, queued or running)")
    max_upload_mb: float
    max_pixels: int = Field(description="decompression-bomb guard for every image (pixels)")
    max_image_pixels: int = Field(description="limit for PNG/JPEG, which are colorized in memory")
    max_job_tiles: int = Field(description="most 256² tiles one image may need (work per job)")
    upload_timeout_s: float = Field(description="seconds an upload may take, plus one per 64 kB")
    terrains: list[str] = Field(description="terrain names a request may send (besides 'auto')")
    terrain_classifier: bool = Field(description="whether terrain 'auto' can infer a terrain")


class JobOut(BaseModel):
    """A colorizing job (``POST /api/jobs``, ``GET /api/jobs/{id}``)."""

    id: str
    state: Literal["receiving", "queued", "running", "done", "failed", "cancelled"]
    stage: str = Field(description="what the job is doing, in words")
    progress: float = Field(ge=0, le=1, description="tiles colorized / tiles to colorize")
    kind: Literal["image", "scene"] = Field(
        description="'image' (PNG/JPEG → PNG) or 'scene' (GeoTIFF → GeoTIFF)"
    )
    filename: str
    width: int
    height: int
    model: str | None = Field(description="the model id used (null until chosen)")
    terrain: str | None = Field(description="the terrain the model was chosen for, or 'any'")
    terrain_confidence: float | None = Field(description="set when the terrain was inferred")
    error: str | None
    error_status: int | None = Field(description="the HTTP status the error would have had")
    notes: list[str]
    result_url: str | None = Field(description="the full result (PNG, or GeoTIFF for a scene)")
    result_type: Literal["image/png", "image/tiff"] | None
    quicklook_url: str | None = Field(description="the result as a PNG of at most 1024 pixels a side")
    preview_url: str | None = Field(description="the input as the model saw it, the quicklook's size")
