"""The generator's inference form on CPU, chosen by measuring the candidates on the machine at hand.

Which form of the generator runs fastest depends on the CPU (:data:`~sarcolor.inference.forms.FORMS`):
the oneDNN-prepacked form is ×1.6 the plain eval generator on an AVX-512-BF16 Zen 5 and ×0.7 of
it on an AVX2-only EPYC, where ONNX Runtime's kernels are fastest. So at first use ``--form auto``
times each form on a warm batch of random tiles (the batch size that will run), keeps the fastest
(plain ``eager`` is a candidate, so the choice is never slower than it, up to timing noise) and
remembers it in a small JSON file, keyed by what the speeds depend on: CPU model, ISA flags,
PyTorch (and ONNX Runtime) version, threads, the generator (class, parameters, width), precision
and batch size.

The cache lives in ``$SARCOLOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/sarcolor``, else
``~/.cache/sarcolor``; a corrupt file is ignored and rewritten, an unwritable one only means
measuring again next time. ``sarcolor colorize --form eager`` (or another form) skips all this,
and so does ``SARCOLOR_FORM=<form>``, which makes ``auto`` mean that form (the test suite's
setting, so that its outputs do not depend on the machine's timings).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from sarcolor.checkpoint import resolve_checkpoint
from sarcolor.errors import SarcolorError
from sarcolor.inference.backend import is_onnx, loaded_generator
from sarcolor.inference.forms import FORMS, RUNTIME, build_form, cache_dir, input_channels
from sarcolor.models.weights import read_checkpoint
from sarcolor.outputs import atomic_write
from sarcolor.runtime import cpu_isa_flags, cpu_model, resolve_device, resolve_precision
from sarcolor.textfiles import loads_json

CACHE_FILE = "inference-forms.json"
CACHE_VERSION = 2  # 2: the onnxruntime form is a candidate (choices made without it are measured again)
TILE = 256
REPEATS = 2  # timed batches per form after one warm-up; the best counts


@dataclass(frozen=True)
class FormChoice:
    """Which form runs, and why.

    Attributes:
        form: one of :data:`~sarcolor.inference.forms.FORMS`.
        reason: ``forced`` (asked for), ``measured`` (timed now), ``cached`` (timed earlier on
            this machine), ``SARCOLOR_FORM`` (set there) or ``default`` (CUDA, where forms are
            not used).
        rates: images per second of each form measured (empty unless measured or cached).
        key: what the measurement is remembered under.
        cache: the cache file (``None`` when it was not used).
    """

    form: str
    reason: str
    rates: dict[str, float] = field(default_factory=dict)
    key: str = ""
    cache: Path | None = None

    def describe(self) -> str:
        """One line: the form, and the measurement that chose it."""
        if not self.rates:
            return f"inference form: {self.form} ({self.reason})"
        rates = ", ".join(f"{name} {rate:.2f}" for name, rate in self.rates.items())
        where = f" in {self.cache}" if self.cache is not None else ""
        return f"inference form: {self.form} ({self.reason}{where}; img/s: {rates})"

    def table(self) -> list[str]:
        """Lines: each measured form's rate and its share of plain eager's, the chosen one marked."""
        eager = self.rates.get("eager")
        lines = []
        for name, rate in self.rates.items():
            share = f"{rate / eager:5.2f}× eager" if eager else ""
            mark = "  ← chosen" if name == self.form else ""
            lines.append(f"  {name:<14} {rate:8.2f} img/s  {share}{mark}")
        return lines


def machine_prefix() -> str:
    """The machine's part of a cache key: CPU model, ISA flags, PyTorch and ONNX Runtime versions,
    threads."""
    return (
        f"{cpu_model()} [{' '.join(cpu_isa_flags())}] torch {torch.__version__}{_runtime_version()}, "
        f"{torch.get_num_threads()} threads"
    )


def _runtime_version() -> str:
    try:
        return f" onnxruntime {metadata.version('onnxruntime')}"
    except metadata.PackageNotFoundError:
        return ""


def machine_key(generator: nn.Module, precision: str, batch: int) -> str:
    """What the speed of the forms depends on, as one readable string."""
    first = _first_conv(generator)
    params = sum(p.numel() for p in generator.parameters())
    width = first.out_channels if first is not None else 0
    return (
        f"{machine_prefix()} | {type(generator).__name__} {params} params ngf {width} "
        f"| {precision} batch {batch}"
    )


def recall(key: str) -> tuple[dict | None, Path]:
    """The cached entry under ``key`` (``None`` when there is none), and the cache file."""
    path = cache_dir() / CACHE_FILE
    known = _read(path).get(key)
    return (known if isinstance(known, dict) else None), path


def remember(key: str, entry: dict) -> Path | None:
    """Cache ``entry`` (stamped with the time) under ``key``: the file written, or ``None`` where it
    cannot be (a read-only home: measured again next time, nothing lost)."""
    path = cache_dir() / CACHE_FILE
    entries = _read(path)  # now: another process may have measured its own case meanwhile
    entries[key] = {**entry, "measured": datetime.now(timezone.utc).isoformat()}
    try:
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(_document(entries), indent=1) + "\n"))
    except (SarcolorError, OSError):
        return None
    return path


def choose_form(
    generator: nn.Module,
    device: torch.device,
    precision: str,
    form: str = "auto",
    batch: int = 8,
    remeasure: bool = False,
) -> FormChoice:
    """The form to run ``generator`` (eval mode) in: ``form`` itself unless ``auto``; for ``auto``
    on CPU the cached measurement for this machine, else (or with ``remeasure``) a new one,
    which is then cached."""
    if form == "auto" and not remeasure and os.environ.get("SARCOLOR_FORM") in FORMS:  # the suite's
        return FormChoice(os.environ["SARCOLOR_FORM"], "SARCOLOR_FORM")
    if form != "auto":
        if form not in FORMS:
            raise SarcolorError(f"--form must be auto or one of {', '.join(FORMS)}, got {form!r}")
        if form == RUNTIME and (device.type != "cpu" or precision != "fp32"):
            raise SarcolorError(
                f"--form {RUNTIME} runs in fp32 on the CPU, not {precision} on {device.type} "
                "(add --device cpu --precision fp32)"
            )
        return FormChoice(form, "forced")
    if device.type != "cpu":
        return FormChoice("prepacked", "default")  # CUDA: inference_model ignores the form
    key = machine_key(generator, precision, batch)
    known, path = recall(key)
    if not remeasure and known is not None and known.get("form") in FORMS:
        return FormChoice(known["form"], "cached", numbers(known.get("rates")), key, path)
    rates = measure(generator, device, precision, batch)
    best = max(rates, key=rates.__getitem__) if rates else "prepacked"
    return FormChoice(best, "measured", rates, key, remember(key, {"form": best, "rates": rates}))


def measure(
    generator: nn.Module, device: torch.device, precision: str, batch: int, forms: tuple[str, ...] = FORMS
) -> dict[str, float]:
    """Images per second of each form on a batch of random 256² tiles: one warm-up batch, then
    the best of :data:`REPEATS`. A form that fails to build or run is left out."""
    seeded = torch.Generator().manual_seed(0)
    x = torch.rand(batch, input_channels(generator), TILE, TILE, generator=seeded) * 2 - 1
    rates: dict[str, float] = {}
    for name in forms:
        try:
            model = build_form(generator, device, precision, name)
            with torch.inference_mode():
                model(x)
                best = float("inf")
                for _ in range(REPEATS):
                    start = time.perf_counter()
                    model(x)
                    best = min(best, time.perf_counter() - start)
        except (RuntimeError, ValueError, SarcolorError):  # an op this PyTorch lacks, ONNX Runtime
            # not installed, a form not for this precision: not a candidate
            continue
        rates[name] = round(batch / best, 3)
        del model
    return rates


def measure_checkpoint(
    checkpoint: str | Path,
    device: str = "auto",
    precision: str = "auto",
    batch: int = 8,
    remeasure: bool = False,
) -> FormChoice:
    """What ``--form auto`` runs for this checkpoint here (``sarcolor speed``): the cached
    measurement, or a new one (always with ``remeasure``)."""
    path = resolve_checkpoint(checkpoint)
    if is_onnx(path):
        raise SarcolorError(f"{path}: an ONNX model runs in ONNX Runtime; --form is for checkpoints")
    meta, states = read_checkpoint(path, ["G"])
    generator = loaded_generator(meta.config, states["G"], path).eval()
    target = resolve_device(device)
    resolved = resolve_precision(precision, target)
    return choose_form(generator, target, resolved, "auto", batch, remeasure=remeasure)


def _first_conv(generator: nn.Module) -> nn.Conv2d | None:
    return next((m for m in generator.modules() if isinstance(m, nn.Conv2d)), None)


def _read(path: Path) -> dict:
    """The cached entries, or none when the file is missing, unreadable or not what we wrote."""
    try:
        document = loads_json(path.read_text(), path)
    except (OSError, ValueError, SarcolorError):
        return {}
    ok = isinstance(document, dict) and document.get("version") == CACHE_VERSION
    entries = document.get("entries") if ok else None
    return dict(entries) if isinstance(entries, dict) else {}


def numbers(rates: object) -> dict[str, float]:
    """The cached rates that are numbers (a hand-edited file may hold anything)."""
    if not isinstance(rates, dict):
        return {}
    return {str(k): float(v) for k, v in rates.items() if isinstance(v, (int, float))}


def _document(entries: dict) -> dict:
    return {
        "version": CACHE_VERSION,
        "about": "sarcolor's measured inference forms and training paths per machine "
        "(sarcolor.inference.autotune, sarcolor.training.autotune); "
        "delete this file to measure again",
        "entries": entries,
    }
