"""Recognising a foreign generator from its state dict: which graph, which options, or why not.

:func:`inspect_state_dict` takes what :func:`~sarcolor.pth.read_foreign_state_dict` returned and
works out the :class:`~sarcolor.models.foreign.ForeignArch` from the keys and shapes alone:

* canonical pix2pix ``UnetGenerator``: ``model.model.0.weight`` is the first conv
  ``[ngf, input_nc, 4, 4]``, ``model.model.3.weight`` the last convT ``[2·ngf, output_nc, 4, 4]``;
  the nesting depth (``model.model.1.model.3.model.…``) gives ``num_downs`` (8: ``unet_256``,
  7: ``unet_128``); a norm weight at ``…1.model.2.weight`` means ``--norm batch``, a conv bias
  at ``…1.model.1.bias`` without it ``--norm instance``, neither ``--norm none``. Dropout has no
  weights and cannot be seen;
* SAR2Optical ``UnetGenerator``: ``encoder.enc1.conv_block.0.weight`` ``[64, c_in, 4, 4]`` and
  ``head.0.weight`` ``[c_out, 64, 3, 3]``.

It then compares every key and shape with the graph it built, so a file that fits neither
raises a :class:`~sarcolor.errors.SarcolorError` saying what is missing or unexpected and what
the file looks like instead (a training checkpoint, a discriminator, a ResNet generator).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from sarcolor.errors import SarcolorError
from sarcolor.import_options import Source as Source  # declared torch-free there (sarcolor --help)
from sarcolor.models.foreign import ForeignArch, Norm

SOURCE_ARCH: dict[str, str] = {"pix2pix": "pix2pix_unet", "sar2optical": "sar2optical_unet"}
_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DistributedDataParallel, torch.compile
_RUNNING = (".running_mean", ".running_var", ".num_batches_tracked")
_SHOWN = 3  # keys named per list in a message


@dataclass(frozen=True)
class ForeignWeights:
    """A recognised foreign generator: its architecture and a state dict that loads strictly."""

    arch: ForeignArch
    state_dict: dict[str, torch.Tensor]
    notes: tuple[str, ...] = ()  # what was adjusted on the way, for the user to read

    def load(self) -> nn.Module:
        """The generator with these weights, in eval mode, on the CPU."""
        model = self.arch.build()
        model.load_state_dict(self.state_dict, strict=True)
        return model.eval()


def inspect_state_dict(
    obj: object,
    *,
    origin: str = "state dict",
    expected: Source | None = None,
    input_channels: int | None = None,
    norm: Norm | None = None,
) -> ForeignWeights:
    """Recognise a canonical pix2pix or SAR2Optical generator state dict.

    Args:
        obj: the loaded file: a dict of tensors, possibly wrapped as ``{"state_dict": …}`` or
            with ``module.`` / ``_orig_mod.`` key prefixes (both are undone).
        origin: the file name, for messages.
        expected: the source the user named (``--from``); another layout is an error.
        input_channels, norm: what the user states (``--input-channels``, ``--norm``); checked
            against the weights, which decide.

    Returns:
        The architecture and a state dict ready for ``load_state_dict(strict=True)``.

    Raises:
        SarcolorError: one line naming ``origin`` and the problem.
    """
    state, notes = _unwrap(obj, origin)
    arch = _recognise(state, origin)
    if expected is not None and SOURCE_ARCH[expected] != arch.name:
        other = next(s for s, a in SOURCE_ARCH.items() if a == arch.name)
        raise SarcolorError(f"{origin}: a {arch.label}, not a {expected} generator (use --from {other})")
    if input_channels is not None and input_channels != arch.in_channels:
        raise SarcolorError(
            f"{origin}: the generator takes {arch.in_channels} input channel(s) (its first convolution "
            f"is {_first_conv_shape(state, arch)}), not {input_channels}; drop --input-channels or set "
            f"it to {arch.in_channels}"
        )
    if norm is not None and norm != arch.norm:
        raise SarcolorError(f"{origin}: the weights are those of a {arch.label}, not of --norm {norm}")
    state = _complete(state, arch, notes)
    _compare(state, arch, origin)
    return ForeignWeights(arch, state, tuple(notes))


def _unwrap(obj: object, origin: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    notes: list[str] = []
    if not isinstance(obj, Mapping):
        raise SarcolorError(f"{origin}: holds a {type(obj).__name__}, not a state dict (a dict of tensors)")
    inner = obj.get("state_dict")
    if isinstance(inner, Mapping) and not any(
        isinstance(v, Mapping) for k, v in obj.items() if k != "state_dict"
    ):
        obj, notes = inner, ["read the 'state_dict' entry"]
    nested = [str(k) for k, v in obj.items() if isinstance(v, Mapping)]
    if nested:
        raise SarcolorError(f"{origin}: {_describe_container(obj)}")
    others = [str(k) for k, v in obj.items() if not torch.is_tensor(v)]
    if others or not obj:
        what = f"non-tensor entries ({_names(others)})" if others else "no tensors"
        raise SarcolorError(f"{origin}: not a state dict: it holds {what}")
    state = {str(k): v for k, v in obj.items()}
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
            notes.append(f"removed the '{prefix}' key prefix")
    return state, notes


def _describe_container(obj: Mapping) -> str:
    """A training checkpoint or bundle: name its entries and the one that is a generator."""
    entries = [str(k) for k in obj]
    optimizer = any("optim" in k.lower() for k in entries)
    kind = "a full training checkpoint (with optimizer state)" if optimizer else "a bundle of state dicts"
    found = []
    for key, value in obj.items():
        if isinstance(value, Mapping):
            try:
                found.append(f"entry '{key}' is a {inspect_state_dict(value).arch.label}")
            except SarcolorError:
                continue
    hint = f"; {found[0]}: save that entry alone with torch.save and import the file" if found else ""
    return f"{kind} (entries {_names(entries)}), not a generator state dict{hint}"


def _recognise(state: dict[str, torch.Tensor], origin: str) -> ForeignArch:
    if "model.model.0.weight" in state:
        return _recognise_pix2pix(state, origin)
    if "encoder.enc1.conv_block.0.weight" in state:
        return _recognise_sar2optical(state, origin)
    raise SarcolorError(
        f"{origin}: neither a pix2pix U-Net (model.model.0.weight) nor a SAR2Optical generator "
        f"(encoder.enc1.conv_block.0.weight): {_describe_other(state)}"
    )


def pix2pix_prefix(depth: int) -> str:
    """The key prefix of the canonical U-Net's level ``depth`` (0 = outermost)."""
    return "model.model." + ("1.model." if depth else "") + "3.model." * max(depth - 1, 0)


def _recognise_pix2pix(state: dict[str, torch.Tensor], origin: str) -> ForeignArch:
    depth = 1
    while f"{pix2pix_prefix(depth)}1.weight" in state:
        depth += 1
    first, last = state["model.model.0.weight"], state.get("model.model.3.weight")
    if last is None or first.dim() != 4 or last.dim() != 4:
        raise SarcolorError(f"{origin}: a pix2pix U-Net without its last layer (model.model.3.weight)")
    level1 = pix2pix_prefix(1)
    norm: Norm
    if f"{level1}2.weight" in state:
        norm = "batch"
    elif f"{level1}1.bias" in state:
        norm = "instance"
    else:
        norm = "none"
    return ForeignArch(
        "pix2pix_unet",
        in_channels=int(first.shape[1]),
        out_channels=int(last.shape[1]),
        num_downs=_in_range(depth, 5, 10, origin, "U-Net depth"),
        ngf=int(first.shape[0]),
        norm=norm,
    )


def _recognise_sar2optical(state: dict[str, torch.Tensor], origin: str) -> ForeignArch:
    head = state.get("head.0.weight")
    if head is None:
        raise SarcolorError(f"{origin}: a SAR2Optical generator without its head (head.0.weight)")
    upsampled = "decoder.dec1.conv_block.0.1.weight" in state  # use_upsampling: true
    return ForeignArch(
        "sar2optical_unet",
        in_channels=int(state["encoder.enc1.conv_block.0.weight"].shape[1]),
        out_channels=int(head.shape[0]),
        upsampling="nearest" if upsampled else "transpose",
    )


def _in_range(value: int, low: int, high: int, origin: str, what: str) -> int:
    if not low <= value <= high:
        raise SarcolorError(f"{origin}: {what} {value} is outside [{low}, {high}]")
    return value


def _complete(state: dict[str, torch.Tensor], arch: ForeignArch, notes: list[str]) -> dict[str, torch.Tensor]:
    """Drop what the canonical loader drops, add what old PyTorch versions did not save."""
    expected = _expected(arch)
    out = dict(state)
    if arch.norm == "instance":  # the 2018 code tracked instance-norm statistics; today's ignores them
        dropped = [k for k in out if k not in expected and k.endswith(_RUNNING)]
        for key in dropped:
            del out[key]
        if dropped:
            notes.append(
                f"ignored {len(dropped)} instance-norm running statistics, as the current pix2pix code does"
            )
    converted = [k for k, v in out.items() if v.is_floating_point() and v.dtype != torch.float32]
    for key in converted:  # e.g. a file saved in half precision: sarcolor's checkpoints are float32
        out[key] = out[key].float()
    if converted:
        notes.append(f"converted {len(converted)} tensors to float32")
    added = [k for k in expected if k.endswith(".num_batches_tracked") and k not in out]
    for key in added:  # PyTorch 0.4.0 saved BatchNorm without the counter (unused in eval mode)
        out[key] = torch.tensor(0, dtype=torch.long)
    if added:
        notes.append(f"added {len(added)} BatchNorm num_batches_tracked counters (an old PyTorch file)")
    return out


def _expected(arch: ForeignArch) -> dict[str, torch.Size]:
    with torch.device("meta"):
        return {k: v.shape for k, v in arch.build().state_dict().items()}


def _compare(state: dict[str, torch.Tensor], arch: ForeignArch, origin: str) -> None:
    expected = _expected(arch)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [
        f"{k} {list(state[k].shape)} instead of {list(s)}"
        for k, s in expected.items()
        if k in state and state[k].shape != s
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} key(s) missing ({_names(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_names(unexpected)})")
    if reshaped:
        problems.append(f"{len(reshaped)} of another shape ({_names(reshaped)})")
    if problems:
        raise SarcolorError(f"{origin}: looks like a {arch.label} but does not fit it: {'; '.join(problems)}")


_RESNET_BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.\d+\.weight$")
_SEQUENTIAL = re.compile(r"^(?:model|net)\.\d+\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


def _describe_other(state: dict[str, torch.Tensor]) -> str:
    """What a state dict that is no known generator looks like, in a few words."""
    keys = list(state)
    blocks = {int(m[1]) for k in keys if (m := _RESNET_BLOCK.match(k))}
    first = state.get("model.1.weight")
    if blocks and first is not None and first.dim() == 4 and first.shape[-1] == 7:
        return (
            f"it is a pix2pix ResnetGenerator (--netG resnet_{len(blocks)}blocks), which import does not "
            "support; only --netG unet_256 / unet_128"
        )
    if any(".conv_block." in k for k in keys) and keys[0].startswith("model.model.0."):
        return "it is a SAR2Optical discriminator (PatchGAN, pix2pix_disc_*.pth), not the generator"
    if keys and all(_SEQUENTIAL.match(k) for k in keys):
        convs = [state[k] for k in keys if k.endswith(".weight") and state[k].dim() == 4]
        if convs and convs[-1].shape[0] == 1:
            kind = "PixelDiscriminator" if convs[0].shape[-1] == 1 else "NLayerDiscriminator, a PatchGAN"
            return f"it is a pix2pix discriminator ({kind}; *_net_D.pth), not the generator"
    return f"an unknown layout (keys {_names(keys)})"


def _first_conv_shape(state: dict[str, torch.Tensor], arch: ForeignArch) -> list[int]:
    key = "model.model.0.weight" if arch.name == "pix2pix_unet" else "encoder.enc1.conv_block.0.weight"
    return list(state[key].shape)


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f", … {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")
