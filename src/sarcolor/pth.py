"""Reading a ``.pth`` file written by ``torch.save`` without ever running its pickle.

A ``.pth`` file is a pickle (inside a zip archive since PyTorch 1.6, bare before), and
unpickling can run any code the file names. The only reader here is PyTorch's restricted
loader, ``torch.load(..., weights_only=True)``, which builds tensors and plain containers
(dict, list, tuple, OrderedDict, numbers, strings) and refuses every other global. sarcolor's
own checkpoints stay safetensors; this module exists for ``sarcolor import`` alone.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch

from sarcolor.errors import SarcolorError, first_line, quote
from sarcolor.memory import check_memory

PTH_SUFFIXES: tuple[str, ...] = (".pth", ".pt")
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"  # PROTO opcode: pickle protocol 2 and later (torch.save's legacy format)
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def read_foreign_state_dict(path: str | Path) -> object:
    """What a ``torch.save`` file holds, read with ``torch.load(weights_only=True)`` on the CPU.

    Returns:
        The loaded object: normally a dict of tensors (a state dict), possibly a container of
        them (e.g. ``{"state_dict": …}``); :func:`~sarcolor.models.foreign_layout.inspect_state_dict`
        decides what it is.

    Raises:
        SarcolorError: the file is missing, not named ``.pth``/``.pt``, not a zip or pickle
            written by ``torch.save``, refers to Python objects other than tensors and
            containers (a crafted payload, or a whole pickled model), or is damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise SarcolorError(f"{path}: file not found")
    with open(path, "rb") as fh:
        head = fh.read(9)
    if path.suffix.lower() not in PTH_SUFFIXES:
        kind = " (a safetensors file)" if _looks_like_safetensors(head, path) else ""
        raise SarcolorError(
            f"{path}: not a .pth file{kind}; import reads the .pth a PyTorch training script saved "
            "with torch.save (e.g. latest_net_G.pth, pix2pix_gen_180.pth)"
        )
    if not (head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTO)):
        raise SarcolorError(f"{path}: not a torch.save file (neither a zip archive nor a pickle)")
    if head.startswith(_ZIP_MAGIC):
        check_archive(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. "pickle protocol 4 detected"
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _GLOBAL.search(str(exc))
        what = f"it names {found[1]}" if found else "it uses pickle instructions beyond plain data"
        raise SarcolorError(
            f"{path}: refused: the file holds more than tensors ({what}); sarcolor reads only weights, "
            "through torch.load(weights_only=True), and never runs a file's code "
            "(a whole model saved with torch.save(model) must be re-saved as model.state_dict())"
        ) from None
    except Exception as exc:  # a damaged archive fails in many ways (zip, EOF, storage sizes)
        raise SarcolorError(f"{path}: cannot read this torch.save file ({first_line(exc)})") from None


def check_archive(path: Path) -> None:
    """Refuse, from the zip's central directory, an archive whose records would not fit in memory.

    ``torch.load`` inflates every record it reads whole: a 3.8 MB archive declaring a 4 GB
    deflated record (a zip bomb; ``torch.save`` stores records uncompressed) takes 4 GB before
    anything can be checked. Declared sizes bound what is allocated (the reader checks them).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch.load says what is wrong with it
    if not records:
        return
    largest = max(records, key=lambda r: r.file_size)
    packed = [r for r in records if r.compress_type != zipfile.ZIP_STORED and r.file_size > _SMALL]
    if packed:  # never written by torch.save: only a crafted file inflates
        worst = max(packed, key=lambda r: r.file_size / max(1, r.compress_size))
        ratio = worst.file_size / max(1, worst.compress_size)
        if ratio > MAX_RATIO:
            raise SarcolorError(
                f"{path}: refused: record {quote(worst.filename)} inflates {ratio:.0f}× "
                f"({worst.compress_size:,} → {worst.file_size:,} bytes), a zip bomb; torch.save "
                "stores records uncompressed"
            )
    need = sum(r.file_size for r in records)
    check_memory(path, need, f"its records ({len(records)}, the largest {quote(largest.filename)})")


MAX_RATIO = 100  # deflate of real weights saves little; a run of zeros inflates 1000×
_SMALL = 1 << 20  # records this small are read whatever their ratio (pickles, versions)


def _looks_like_safetensors(head: bytes, path: Path) -> bool:
    """An 8-byte little-endian header length that fits the file, then the JSON header's '{'."""
    return (
        len(head) == 9 and head[8:9] == b"{" and 8 + int.from_bytes(head[:8], "little") <= path.stat().st_size
    )
