"""What the OpenAPI schema says beyond what FastAPI derives: the multipart form, the image
responses with their headers, and the JSON errors of each operation."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from sarcolor.app.schemas import ErrorOut
from sarcolor.inference.modelset import AUTO

BINARY = {"schema": {"type": "string", "format": "binary"}}
FORM = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "a PNG or JPEG SAR image, or a GeoTIFF scene (its kind is read "
                        "from its content; the name is only shown back)",
                    },
                    "model": {"type": "string", "default": AUTO, "description": "a model id or 'auto'"},
                    "terrain": {"type": "string", "default": AUTO, "description": "a terrain name or 'auto'"},
                },
            }
        }
    },
}


def _err(description: str) -> dict:
    return {"model": ErrorOut, "description": description}


UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _err("not multipart, no 'file' field, or the file is not a readable PNG, JPEG or TIFF"),
    413: _err("the upload is over --max-upload-mb, or the image declares more pixels than allowed"),
    422: _err("unknown model or terrain, no model for the terrain, or the model cannot take this input"),
    503: _err("every place is taken (workers + queue size requests in progress); retry later"),
}
JOB_ERRORS: dict[int | str, dict[str, Any]] = {
    404: _err("no such job (or it expired)"),
    409: _err("the job has not finished, or failed"),
}
RESULT_HEADERS = {
    "X-Sarcolor-Model": {"description": "the model id used", "schema": {"type": "string"}, "required": True},
    "X-Sarcolor-Terrain": {
        "description": "the terrain the model was chosen for (given or inferred), or 'any'",
        "schema": {"type": "string"},
        "required": True,
    },
    "X-Sarcolor-Terrain-Confidence": {
        "description": "the classifier's confidence in [0, 1], when the terrain was inferred",
        "schema": {"type": "string"},
    },
}


def contract_schema(app: FastAPI) -> dict:
    """The generated schema, less FastAPI's default 422 (``{"detail": ...}``) where this API has
    no validated parameter that could fail: its errors are ``{"error": ...}``, as documented."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        for operations in schema["paths"].values():
            for operation in operations.values():
                default = operation["responses"].get("422", {})
                if "HTTPValidationError" in str(default):
                    del operation["responses"]["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema
