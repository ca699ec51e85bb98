"""``sarcolor import``: a generator trained elsewhere (a ``.pth``) → an ordinary sarcolor checkpoint.

The file is read once, here, with PyTorch's restricted loader (:mod:`sarcolor.pth`), recognised
(:func:`~sarcolor.models.foreign_layout.inspect_state_dict`) and written as a safetensors
checkpoint whose configuration records the architecture (``model.arch``, ``model.foreign``),
its input and output normalisation, and the SAR conventions the user states. Every other
command then reads it like a checkpoint of sarcolor's own (and still refuses pickles unread).

What the checkpoint holds and does not:

* the generator's weights (``G.net.*``, the source's state dict) and its configuration;
* no discriminator and no optimizer state, so ``train --resume`` refuses it; ``train
  --init-from`` fine-tunes it in a new run (fresh discriminator and Adam);
* no split and no baselines: ``evaluate`` recomputes the split from the data it is given and
  fits the baselines on that split's train part, and says so;
* no resize: the canonical ``test.py`` resizes inputs to ``--load_size``; sarcolor colorizes
  every image at its own size, in blended 256×256 tiles.

Example::

    result = import_generator("pix2pix", "latest_net_G.pth", "model.safetensors")
    print("\\n".join(result.lines()))
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sarcolor.checkpoint import CheckpointMeta, save_checkpoint
from sarcolor.config import Config
from sarcolor.errors import SarcolorError
from sarcolor.import_options import NORM_STATS_HELP as NORM_STATS_HELP  # declared torch-free there
from sarcolor.import_options import ImportOptions as ImportOptions
from sarcolor.import_options import Upsampled as Upsampled
from sarcolor.models.foreign import ForeignArch
from sarcolor.models.foreign_layout import SOURCE_ARCH, Source, inspect_state_dict
from sarcolor.outputs import check_free_space, ensure_writable
from sarcolor.pth import read_foreign_state_dict

TILE = 256  # sarcolor colorizes 256×256 tiles
_EPOCH = re.compile(r"^(?:(\d+)_net_G|pix2pix_gen_(\d+))$")


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_generator` found and wrote."""

    path: Path
    arch: ForeignArch
    config: Config
    parameters: int
    notes: tuple[str, ...]

    def lines(self) -> list[str]:
        """A few lines for the user: layout, conventions, notes, where it went."""
        pre, arch = self.config.preprocess, self.arch
        ranges = ", ".join(f"{b} {lo:g}…{hi:g} dB" for b, (lo, hi) in zip(pre.bands, pre.ranges, strict=True))
        stats = {"running": "running statistics (eval mode)", "image": "each image's own statistics"}
        norm = f"BatchNorm on {stats[arch.norm_stats]}" if arch.norm == "batch" else f"{arch.norm} norm"
        out = [
            f"found: a {arch.label} from {arch.source}, {self.parameters / 1e6:.1f} M parameters",
            f"input: SAR ({ranges}) as 2·x − 1 on {arch.in_channels} channel(s); output: tanh → RGB"
            + ("" if arch.out_channels == 3 else " (grey, repeated)")
            + f"; {norm}; SAR files of scale {pre.sar_scale}",
            *(f"note: {n}" for n in self.notes),
            f"wrote {self.path} (generator only: no discriminator or optimizer state)",
        ]
        return out


def import_generator(
    source: Source,
    model: str | Path,
    out: str | Path,
    options: ImportOptions | None = None,
    *,
    preprocess: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> ImportResult:
    """Read ``model`` (a ``.pth`` of ``source``'s generator) and write the checkpoint ``out``.

    Args:
        source: ``pix2pix`` (junyanz/pytorch-CycleGAN-and-pix2pix) or ``sar2optical``.
        model: the ``.pth`` file (``latest_net_G.pth``, ``pix2pix_gen_180.pth``, …).
        out: the checkpoint to write, ``*.safetensors``.
        options: what the user states (:class:`ImportOptions`).
        preprocess: ``bands`` / ``db_ranges`` of :class:`~sarcolor.config.PreprocessConfig`
            (default VV, −25…0 dB: the SEN1-2 scale).
        overwrite: replace an existing ``out``.

    Raises:
        SarcolorError: one line naming the file and the problem (not a ``.pth``, a pickle that
            holds more than tensors, a layout that fits neither source, a statement the weights
            contradict, an output that exists or is the input).
    """
    options = (options or ImportOptions()).validate("import options")
    model, out = Path(model), Path(out)
    if source not in SOURCE_ARCH:
        raise SarcolorError(f"--from must be one of {', '.join(SOURCE_ARCH)}, got {source!r}")
    if out.suffix.lower() != ".safetensors":
        raise SarcolorError(f"{out}: the checkpoint is written as .safetensors")
    if out.exists() and model.exists() and out.resolve() == model.resolve():
        raise SarcolorError(f"{out}: is the input file; choose another --out")
    if out.exists() and not overwrite:
        raise SarcolorError(f"{out}: already exists (pass --overwrite to replace it)")
    ensure_writable(out.parent)  # before the file is read
    weights = inspect_state_dict(
        read_foreign_state_dict(model),
        origin=str(model),
        expected=source,
        input_channels=options.input_channels,
        norm=options.norm,
    )
    arch, notes = _stated(weights.arch, options, model), list(weights.notes)
    if arch.norm != "batch" and options.norm_stats != "running":
        notes.append(f"--norm-stats {options.norm_stats} has no effect: the model has no BatchNorm")
    cfg = _config(arch, options, preprocess or {}, out)
    net = arch.build_for_sarcolor()
    net.net.load_state_dict(weights.state_dict, strict=True)
    parameters = sum(p.numel() for p in net.parameters())
    check_free_space(out.parent, parameters * 4, "but the checkpoint needs about")
    info: dict[str, Any] = {
        "from": source,
        "repository": arch.source,
        "file": model.name,
        "sha256": _sha256(model),
        "layout": arch.label,
        "notes": notes,
    }
    if (epoch := _EPOCH.match(model.stem)) is not None:
        info["epoch"] = int(epoch[1] or epoch[2])
    save_checkpoint(out, CheckpointMeta(cfg, 0, run={"imported": info}), {"G": net})
    return ImportResult(out, arch, cfg, parameters, tuple(notes))


def _stated(arch: ForeignArch, options: ImportOptions, origin: Path) -> ForeignArch:
    """The recognised architecture with what the weights cannot show, checked for sarcolor's use."""
    if options.upsampling is not None:
        if arch.upsampling == "transpose":
            why = (
                "a pix2pix U-Net"
                if arch.name == "pix2pix_unet"
                else "its decoder has transposed convolutions"
            )
            raise SarcolorError(
                f"{origin}: --upsampling applies to SAR2Optical's use_upsampling variant; {why}"
            )
        arch = replace(arch, upsampling=options.upsampling)
    if not options.dropout and arch.name == "sar2optical_unet":
        raise SarcolorError(
            f"{origin}: --no-dropout applies to pix2pix; SAR2Optical's decoder always has dropout"
        )
    arch = replace(arch, norm_stats=options.norm_stats, dropout=options.dropout)
    if TILE % arch.size_multiple:
        raise SarcolorError(
            f"{origin}: a {arch.label} needs images in multiples of {arch.size_multiple} pixels; sarcolor "
            f"colorizes {TILE}×{TILE} tiles (U-Nets of up to 8 levels)"
        )
    if arch.out_channels not in (1, 3):
        raise SarcolorError(
            f"{origin}: the generator outputs {arch.out_channels} channels; sarcolor colorizes into RGB "
            "(3 channels, or 1 shown as grey)"
        )
    return arch


def _config(arch: ForeignArch, options: ImportOptions, preprocess: Mapping[str, Any], out: Path) -> Config:
    """The checkpoint's configuration: SAR in, RGB out, the stated SAR conventions, the layout."""
    unknown = set(preprocess) - {"bands", "db_ranges"}
    if unknown:
        raise SarcolorError(f"import takes --band and --db-range, not {', '.join(sorted(unknown))}")
    bands = list(preprocess.get("bands") or ["VV"])
    if len(bands) not in (1, arch.in_channels):
        raise SarcolorError(
            f"{len(bands)} --band given for a model of {arch.in_channels} input channel(s): give one band "
            f"(repeated on every channel) or {arch.in_channels}"
        )
    cfg = Config().replace(
        preprocess={
            "input": "sar",
            "target": "rgb",
            "bands": bands,
            "db_ranges": list(preprocess.get("db_ranges") or []),
            "sar_scale": options.sar_scale,
        },
        model={
            "arch": arch.name,
            "foreign": arch.to_dict(),
            "ngf": arch.ngf,
            "dropout": 0.5 if arch.dropout else 0.0,
        },
    )
    return cfg.validate(str(out))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
