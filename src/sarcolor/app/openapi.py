"""What the OpenAPI schema says beyond what FastAPI derives: the multipart form, the image
responses with their headers, and the JSON errors of each operation (those of the request guard
and of a server bug on every operation: every status the API answers is in the schema)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from sarcolor.app.schemas import ErrorOut, JobOut
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
    408: _err("the upload was slower than --upload-timeout-s plus a second per 64 kB"),
    413: _err(
        "the upload is over --max-upload-mb, or the image declares more pixels or tiles than allowed "
        "(--max-image-mp, --max-job-tiles) or than the server's memory can colorize"
    ),
    422: _err("unknown model or terrain, no model for the terrain, or the model cannot take this input"),
    503: _err("every place is taken (workers + queue size requests in progress); retry later"),
    507: _err("the server's temporary folder is full"),
}
JOB_ERRORS: dict[int | str, dict[str, Any]] = {
    404: _err("no such job (or it expired)"),
    409: _err("the job has not finished, failed, or was cancelled"),
}
CANCELLING = {"model": JobOut, "description": "the job had not finished: it is cancelled (state 'cancelled')"}
EVERY_OPERATION: dict[str, str] = {
    "400": "a Host header that is not this server's (DNS-rebinding guard); for uploads, see above",
    "403": "an Origin header that is not this server's page (cross-site request)",
    "500": "a bug in the server (logged); never caused by a request",
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
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for operations in schema["paths"].values():
            for operation in operations.values():
                default = operation["responses"].get("422", {})
                if "HTTPValidationError" in str(default):
                    del operation["responses"]["422"]
                for status, description in EVERY_OPERATION.items():
                    operation["responses"].setdefault(status, {"description": description, "content": error})
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema
