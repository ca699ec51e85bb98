"""``sarcolor serve`` through the real command line: a real server on a free port, in a
subprocess, serving a model set with a terrain classifier and a conditioned model."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from app_support import Server, png_bytes, terrain_checkpoint
from conftest import tiny_config
from sarcolor.cli.main import build_parser
from sarcolor.training.trainer import train

SERVE = ("-m", "sarcolor.cli.main", "serve")


@pytest.fixture(scope="module")
def served_set(synthetic_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SET/agri (a terrain model) and SET/cond (a generator conditioned on the terrain)."""
    root = tmp_path_factory.mktemp("set")
    terrain_checkpoint(root / "agri", ["agri"])
    cfg = tiny_config(synthetic_v2, steps=2).replace(model={"condition": "terrain"})
    train(cfg, root / "cond", progress=False, echo=lambda _: None)
    return root


def test_sarcolor_serve_answers_healthz_and_lists_the_set(served_set: Path, tmp_path: Path) -> None:
    server = Server([served_set], tmp_path / "tmp", "--workers", "1", "--device", "cpu", entry=SERVE)
    try:
        assert server.url.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
        health = httpx.get(server.url + "/healthz", timeout=30)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        models = {m["id"]: m for m in httpx.get(server.url + "/api/models", timeout=30).json()}
        assert models["agri"]["terrains"] == ["agri"] and not models["agri"]["conditioned"]
        assert models["cond"]["conditioned"] and models["cond"]["terrains"] == [
            "agri", "barrenland", "grassland", "urban"
        ]  # fmt: skip
        sar = png_bytes(np.full((64, 96), 90, np.uint8))
        answer = httpx.post(
            server.url + "/api/colorize",
            data={"model": "cond", "terrain": "urban"},
            files={"file": ("patch.png", sar)},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        assert (
            answer.headers["x-sarcolor-model"] == "cond" and answer.headers["x-sarcolor-terrain"] == "urban"
        )
        refused = httpx.post(  # conditioned, no terrain and no classifier: one sentence, 422
            server.url + "/api/colorize", data={"model": "cond"}, files={"file": ("p.png", sar)}, timeout=60
        )
        assert refused.status_code == 422 and "conditioned on the terrain" in refused.json()["error"]
    finally:
        assert server.stop() == 0
    assert "sarcolor: stopped" in server.output


def test_serve_flags_come_from_the_option_declarations() -> None:
    args = build_parser().parse_args(["serve", "--models", "set"])
    assert getattr(args, "serve.host") == "127.0.0.1" and getattr(args, "serve.port") == 8000
    assert getattr(args, "terrain.terrain_classifier") is None
    args = build_parser().parse_args(["serve", "--models", "a", "b", "--host", "0.0.0.0", "--workers", "2"])
    assert args.models == ["a", "b"] and getattr(args, "serve.workers") == 2
