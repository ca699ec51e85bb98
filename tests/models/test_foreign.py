"""Generators trained elsewhere: sarcolor's graphs equal the sources' on real SEN1-2 patches.

For each source the test builds that source's generator itself, from its published layout
(junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``: ``UnetGenerator`` of nested
``UnetSkipConnectionBlock``; yuuIind/SAR2Optical ``src/networks.py`` + ``src/layers.py``), in the
source's own style (in-place activations, ``torch.cat([x, self.model(x)])``, explicit
concatenations), independently of :mod:`sarcolor.models.foreign`. It fills the graph with random
weights and BatchNorm statistics, saves ``state_dict()`` with ``torch.save`` as the source does,
reads the file back through sarcolor's restricted reader, and compares outputs.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from foreign_support import (
    Payload,
    RefDown,
    RefSar2OpticalGenerator,
    RefUnetGenerator,
    randomise,
    sar_unit,
    sen12_patches,
    source_uint8,
)
from sarcolor.data.io import to_uint8
from sarcolor.errors import SarcolorError
from sarcolor.models.fast import inference_model
from sarcolor.models.foreign import ForeignArch
from sarcolor.models.foreign_layout import inspect_state_dict
from sarcolor.models.foreign_nets import Pix2PixUnetGenerator, Sar2OpticalGenerator
from sarcolor.pth import read_foreign_state_dict


def import_file(path: Path, **kwargs):
    weights = inspect_state_dict(read_foreign_state_dict(path), origin=str(path), **kwargs)
    return weights, weights.load()


def check_same_output(ref: nn.Module, ours: nn.Module, arch: ForeignArch, root: Path) -> None:
    with torch.no_grad():
        expected = ref(sen12_patches(root, arch.in_channels))
        got = ours(arch.to_model_input(sar_unit(root)))
    assert expected.std() > 0.1  # not a flat or saturated output: the comparison means something
    assert (expected.abs() < 0.999).float().mean() > 0.8
    assert torch.allclose(got, expected, rtol=0, atol=1e-5), (got - expected).abs().max()
    ours_8bit = to_uint8(arch.from_model_output(got).permute(0, 2, 3, 1).numpy())
    theirs_8bit = source_uint8(expected)
    if arch.out_channels == 1:
        theirs_8bit = np.repeat(theirs_8bit, 3, axis=-1)
    assert np.abs(ours_8bit.astype(int) - theirs_8bit.astype(int)).max() <= 1


# --- the canonical pix2pix -------------------------------------------------------------------

PIX2PIX_CASES = [  # (netG num_downs, norm, input_nc, output_nc, use_dropout)
    (8, "batch", 3, 3, True),
    (8, "batch", 1, 3, False),
    (8, "instance", 3, 3, True),
    (7, "batch", 1, 3, True),
    (7, "instance", 1, 1, False),
    (8, "none", 3, 3, False),
]


@pytest.mark.parametrize(("num_downs", "norm", "input_nc", "output_nc", "dropout"), PIX2PIX_CASES)
def test_pix2pix_file_imports_and_gives_the_source_output(
    real_sen12, tmp_path, num_downs, norm, input_nc, output_nc, dropout
):
    ref = randomise(
        RefUnetGenerator(input_nc, output_nc, num_downs, ngf=8, norm=norm, use_dropout=dropout), 1
    )
    path = tmp_path / "latest_net_G.pth"
    torch.save(ref.state_dict(), path)  # BaseModel.save_networks: torch.save(net.cpu().state_dict(), …)
    weights, ours = import_file(path, expected="pix2pix")
    arch = weights.arch
    assert (arch.name, arch.num_downs, arch.ngf, arch.norm) == ("pix2pix_unet", num_downs, 8, norm)
    assert (arch.in_channels, arch.out_channels, arch.size_multiple) == (input_nc, output_nc, 2**num_downs)
    assert weights.notes == ()
    check_same_output(ref, ours, arch, real_sen12)


def test_pix2pix_per_image_statistics_equal_the_default_test_script(real_sen12, tmp_path):
    """``test.py`` without ``--eval``: BatchNorm on batch statistics of a batch of one."""
    ref = randomise(RefUnetGenerator(1, 3, 8, ngf=8, norm="batch", use_dropout=True), 2)
    path = tmp_path / "latest_net_G.pth"
    torch.save(ref.state_dict(), path)
    weights = inspect_state_dict(read_foreign_state_dict(path))
    arch = dataclasses.replace(weights.arch, norm_stats="image")
    ours = arch.build()
    ours.load_state_dict(weights.state_dict)
    ref.train()
    for m in ref.modules():
        if isinstance(m, nn.Dropout):
            m.eval()  # dropout noise cannot be reproduced; sarcolor leaves it out
            m.p = 0.0
    x = sen12_patches(real_sen12, 1)
    with torch.no_grad():
        expected = torch.cat([ref(x[i : i + 1]) for i in range(len(x))])  # batch_size 1, as test.py
        got = ours.eval()(arch.to_model_input(sar_unit(real_sen12)))  # both images in one batch
        running = weights.load()(arch.to_model_input(sar_unit(real_sen12)))
    assert torch.allclose(got, expected, rtol=0, atol=1e-5)
    assert (running - expected).abs().max() > 0.05  # the two statistics really differ here


def leaves(net: nn.Module) -> list[tuple]:
    """Every leaf module in order: name, type, LeakyReLU slope, dropout rate (activation order)."""
    return [
        (name, type(m).__name__, getattr(m, "negative_slope", None), getattr(m, "p", None))
        for name, m in net.named_modules()
        if not list(m.children())
    ]


@pytest.mark.parametrize(
    ("num_downs", "norm", "dropout"), [(8, "batch", True), (7, "instance", True), (8, "none", False)]
)
def test_pix2pix_graph_has_the_source_layers_in_order(num_downs, norm, dropout):
    """Same leaves in the same places: dropout after the ngf·8 middle up paths, no innermost norm."""
    with torch.device("meta"):
        ref = RefUnetGenerator(3, 3, num_downs, ngf=64, norm=norm, use_dropout=dropout)
        ours = Pix2PixUnetGenerator(3, 3, num_downs=num_downs, ngf=64, norm=norm, dropout=dropout)
    assert leaves(ours) == leaves(ref)


@pytest.mark.parametrize("norm_stats", ["running", "image"])
def test_adapter_and_fast_path_give_the_same_output(real_sen12, norm_stats):
    """sarcolor's way in (grey in [-1, 1]) and its CPU fast path (BatchNorm folded, weights packed)."""
    ref = randomise(RefUnetGenerator(3, 1, 8, ngf=8, norm="batch", use_dropout=True), 5)
    weights = inspect_state_dict(ref.state_dict())
    arch = dataclasses.replace(weights.arch, norm_stats=norm_stats)
    adapter = arch.build_for_sarcolor()
    adapter.net.load_state_dict(weights.state_dict)
    adapter.eval()
    sar = sar_unit(real_sen12)
    with torch.no_grad():
        direct = adapter.net(arch.to_model_input(sar))
        via_adapter = adapter(sar * 2 - 1)  # sarcolor's encode_input for input='sar'
        fast = inference_model(adapter, torch.device("cpu"), "fp32")(sar * 2 - 1)
    assert via_adapter.shape == (2, 3, 256, 256)
    assert torch.equal(via_adapter, direct.expand(-1, 3, -1, -1))
    assert torch.allclose(fast, via_adapter, rtol=0, atol=1e-5)


def test_pix2pix_default_layout_on_the_meta_device():
    """unet_256, ngf 64, 3 → 3, batch norm: the published 54.414 M parameters, every key and shape."""
    with torch.device("meta"):
        ref = RefUnetGenerator(3, 3, 8, ngf=64, norm="batch", use_dropout=True)
        ours = Pix2PixUnetGenerator(3, 3, num_downs=8, ngf=64, norm="batch", dropout=True)
    ref_shapes = {k: v.shape for k, v in ref.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == ref_shapes
    assert len(ref_shapes) == 8 + 8 + 1 + 13 * 5  # convs, convTs, the last one's bias, 13 BatchNorms
    assert ref_shapes["model.model.0.weight"] == (64, 3, 4, 4)
    assert ref_shapes["model.model.3.weight"] == (128, 3, 4, 4)
    n = sum(p.numel() for p in ours.parameters())
    assert n == 54_413_955 and f"{n / 1e6:.3f} M" == "54.414 M"  # as networks.print_networks reports
    weights = inspect_state_dict({k: torch.empty(s, device="meta") for k, s in ref_shapes.items()})
    assert weights.arch.label == "pix2pix unet_256 (batch norm, ngf 64, 3 → 3 channels)"


# --- SAR2Optical -----------------------------------------------------------------------------


def test_sar2optical_file_imports_and_gives_the_source_output(real_sen12, tmp_path):
    ref = randomise(RefSar2OpticalGenerator(3, 3), 3)
    path = tmp_path / "pix2pix_gen_180.pth"
    torch.save(ref.state_dict(), path)  # Pix2Pix.save_model: torch.save(self.gen.state_dict(), gen_path)
    weights, ours = import_file(path, expected="sar2optical")
    assert weights.arch == ForeignArch("sar2optical_unet", 3, 3)
    check_same_output(ref, ours, weights.arch, real_sen12)


def test_sar2optical_default_layout_on_the_meta_device():
    with torch.device("meta"):
        for up, mode in ((False, "transpose"), (True, "nearest")):
            ref = RefSar2OpticalGenerator(3, 3, use_upsampling=up)
            ours = Sar2OpticalGenerator(3, 3, upsampling=mode)
            ref_shapes = {k: v.shape for k, v in ref.state_dict().items()}
            assert {k: v.shape for k, v in ours.state_dict().items()} == ref_shapes
            assert leaves(ours) == leaves(ref)
            arch = inspect_state_dict({k: torch.empty(s, device="meta") for k, s in ref_shapes.items()}).arch
            assert arch.upsampling == mode
    assert ref_shapes["encoder.enc1.conv_block.0.bias"] == (64,)
    assert ref_shapes["decoder.dec1.conv_block.0.1.weight"] == (512, 512, 3, 3)
    assert ref_shapes["head.0.weight"] == (3, 64, 3, 3)


# --- what the inspector accepts and refuses ----------------------------------------------------


def small_pix2pix(seed: int = 4, **kwargs) -> nn.Module:
    kwargs = {"input_nc": 3, "output_nc": 3, "num_downs": 8, "ngf": 8, "norm": "batch", **kwargs}
    return randomise(RefUnetGenerator(**kwargs), seed)


def test_wrapped_and_prefixed_state_dicts_are_unwrapped(tmp_path):
    ref = small_pix2pix()
    state = {f"module.{k}": v for k, v in ref.state_dict().items()}  # saved from DataParallel
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": state, "epoch": 200}, path)
    weights, ours = import_file(path)
    assert weights.notes == ("read the 'state_dict' entry", "removed the 'module.' key prefix")
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), rtol=0, atol=1e-5)


def test_old_pytorch_files_load(tmp_path):
    """PyTorch 0.4.0 saved no num_batches_tracked; the 2018 code tracked instance-norm statistics;
    some files are saved in half precision."""
    bn = {k: v for k, v in small_pix2pix().state_dict().items() if not k.endswith("num_batches_tracked")}
    weights = inspect_state_dict(bn)
    assert weights.notes == ("added 13 BatchNorm num_batches_tracked counters (an old PyTorch file)",)
    weights.load()
    inst = small_pix2pix(norm="instance")
    for m in inst.modules():
        if isinstance(m, nn.InstanceNorm2d):  # as get_norm_layer made them in 2018
            m.track_running_stats = True
            m.register_buffer("running_mean", torch.zeros(m.num_features))
            m.register_buffer("running_var", torch.ones(m.num_features))
            m.register_buffer("num_batches_tracked", torch.tensor(0))
    half = {k: v.half() if v.is_floating_point() else v for k, v in inst.state_dict().items()}
    assert "converted 32 tensors to float32" in inspect_state_dict(half).notes
    weights = inspect_state_dict(inst.state_dict())
    assert weights.arch.norm == "instance"
    assert weights.notes == ("ignored 39 instance-norm running statistics, as the current pix2pix code does",)
    weights.load()


def save_and_inspect(tmp_path: Path, obj: object, **kwargs):
    path = tmp_path / "model.pth"
    torch.save(obj, path)
    return inspect_state_dict(read_foreign_state_dict(path), origin=str(path), **kwargs)


class RefNLayerDiscriminator(nn.Module):
    """The canonical PatchGAN (``--netD basic``), as published."""

    def __init__(self, input_nc=6, ndf=8, n_layers=3):
        super().__init__()
        seq = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=False), nn.BatchNorm2d(ndf * mult)]
            seq += [nn.LeakyReLU(0.2, True)]
        self.model = nn.Sequential(*seq, nn.Conv2d(ndf * mult, 1, 4, 1, 1))


class RefResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()

        def pad_conv_norm():
            return [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=False), nn.BatchNorm2d(dim)]

        self.conv_block = nn.Sequential(*pad_conv_norm(), nn.ReLU(True), *pad_conv_norm())


class RefResnetGenerator(nn.Module):
    """The canonical ``--netG resnet_9blocks`` layout (ngf 8 here)."""

    def __init__(self, ngf=8, n_blocks=9):
        super().__init__()
        model = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2**i
            model += [nn.Conv2d(c, 2 * c, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.ReLU(True)]
        model += [RefResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            model += [
                nn.ConvTranspose2d(c, c // 2, 3, 2, 1, 1, bias=False),
                nn.BatchNorm2d(c // 2),
                nn.ReLU(True),
            ]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)


def test_discriminators_are_named(tmp_path):
    with pytest.raises(SarcolorError, match=r"model\.pth: .*a pix2pix discriminator \(NLayerDiscriminator"):
        save_and_inspect(tmp_path, RefNLayerDiscriminator().state_dict())
    # SAR2Optical's PatchGAN wraps a PatchDiscriminator of DownsamplingBlocks
    disc = nn.Module()
    disc.model = nn.Module()
    disc.model.model = nn.Sequential(RefDown(6, 8, use_norm=False), RefDown(8, 16), nn.Conv2d(16, 1, 4, 1, 1))
    with pytest.raises(SarcolorError, match="a SAR2Optical discriminator"):
        save_and_inspect(tmp_path, disc.state_dict())


def test_a_resnet_generator_is_named(tmp_path):
    with pytest.raises(SarcolorError, match=r"ResnetGenerator \(--netG resnet_9blocks\)"):
        save_and_inspect(tmp_path, RefResnetGenerator().state_dict())


def test_missing_unexpected_and_reshaped_keys_are_listed(tmp_path):
    state = small_pix2pix().state_dict()
    del state["model.model.1.model.3.model.5.weight"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(SarcolorError) as info:
        save_and_inspect(tmp_path, state)
    message = str(info.value)
    assert "\n" not in message
    assert "looks like a pix2pix unet_256 (batch norm, ngf 8, 3 → 3 channels) but does not fit it" in message
    assert "1 key(s) missing (model.model.1.model.3.model.5.weight)" in message
    assert "1 unexpected (extra.weight)" in message
    sar = RefSar2OpticalGenerator().state_dict()
    sar["decoder.dec5.conv_block.0.weight"] = torch.zeros(1024, 128, 4, 4)
    with pytest.raises(SarcolorError, match=r"of another shape \(decoder\.dec5\.conv_block\.0\.weight "):
        inspect_state_dict(sar)


def test_user_statements_are_checked_against_the_weights(tmp_path):
    state = small_pix2pix().state_dict()
    with pytest.raises(SarcolorError, match=r"takes 3 input channel\(s\) .*\[8, 3, 4, 4\]\), not 1"):
        save_and_inspect(tmp_path, state, input_channels=1)
    with pytest.raises(SarcolorError, match="not of --norm instance"):
        inspect_state_dict(state, norm="instance")
    with pytest.raises(SarcolorError, match=r"not a sar2optical generator \(use --from pix2pix\)"):
        inspect_state_dict(state, expected="sar2optical")
    assert inspect_state_dict(state, input_channels=3, norm="batch").arch.in_channels == 3


def test_training_checkpoints_and_non_state_dicts_are_described(tmp_path):
    g = small_pix2pix()
    opt = torch.optim.Adam(g.parameters())
    bundle = {"epoch": 5, "netG": g.state_dict(), "optimizer_G": opt.state_dict()}
    with pytest.raises(
        SarcolorError, match=r"a full training checkpoint .*entry 'netG' is a pix2pix unet_256"
    ):
        save_and_inspect(tmp_path, bundle)
    with pytest.raises(SarcolorError, match=r"holds a list, not a state dict"):
        save_and_inspect(tmp_path, [torch.zeros(1)])
    with pytest.raises(SarcolorError, match=r"non-tensor entries \(epoch\)"):
        save_and_inspect(tmp_path, {"epoch": 3, "w": torch.zeros(1)})
    with pytest.raises(SarcolorError, match=r"an unknown layout \(keys a\.weight\)"):
        save_and_inspect(tmp_path, {"a.weight": torch.zeros(1)})


# --- the reader ------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["zip", "legacy", "raw-pickle"])
def test_a_crafted_pickle_is_refused_and_never_runs(tmp_path, form):
    def write(path: Path, marker: Path) -> Path:
        obj = {"model.model.0.weight": torch.zeros(1), "x": Payload(marker)}
        if form == "raw-pickle":
            path.write_bytes(pickle.dumps(obj))
        else:
            torch.save(obj, path, _use_new_zipfile_serialization=form == "zip")
        return path

    live_marker = tmp_path / "ran"
    live = write(tmp_path / "live.pth", live_marker)
    if form == "raw-pickle":
        pickle.loads(live.read_bytes())  # the payload is real …
    else:
        torch.load(live, weights_only=False)
    assert live_marker.is_dir()
    marker = tmp_path / "must-not-exist"
    path = write(tmp_path / "evil.pth", marker)
    with pytest.raises(SarcolorError, match=r"evil\.pth: refused: the file holds more than tensors") as info:
        read_foreign_state_dict(path)
    assert not marker.exists()  # … and sarcolor's reader never ran it
    assert "\n" not in str(info.value)
    if form != "raw-pickle":
        assert "it names posix.mkdir" in str(info.value) or "it names nt.mkdir" in str(info.value)


def test_files_that_are_not_pth_are_refused_unread(tmp_path):
    st = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(2)}, str(st))
    with pytest.raises(SarcolorError, match=r"model\.safetensors: not a \.pth file \(a safetensors file\)"):
        read_foreign_state_dict(st)
    with pytest.raises(SarcolorError, match=r"v0_input_300x260\.png: not a \.pth file;"):
        read_foreign_state_dict(Path(__file__).parents[1] / "fixtures" / "v0_input_300x260.png")
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(SarcolorError, match=r"notes\.pth: not a torch\.save file"):
        read_foreign_state_dict(text)
    good = tmp_path / "G.pth"
    torch.save(small_pix2pix().state_dict(), good)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(SarcolorError, match=r"broken\.pth: cannot read this torch\.save file \("):
        read_foreign_state_dict(broken)
    with pytest.raises(SarcolorError, match=r"absent\.pth: file not found"):
        read_foreign_state_dict(tmp_path / "absent.pth")


# --- the architecture record -------------------------------------------------------------------


def test_arch_record_round_trips_and_states_the_conventions():
    arch = ForeignArch("pix2pix_unet", 1, 3, num_downs=7, ngf=32, norm="instance", dropout=False)
    data = arch.to_dict()
    assert ForeignArch.from_dict(data) == arch
    assert data["input"] == "2·x − 1 in [-1, 1], SAR repeated on 1 channel(s)"
    assert data["output"] == "tanh in (-1, 1) → (y + 1) / 2"
    assert arch.source == "junyanz/pytorch-CycleGAN-and-pix2pix" and arch.size_multiple == 128
    s2o = ForeignArch("sar2optical_unet", 3, 3)
    sar = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)
    assert torch.equal(
        s2o.to_model_input(sar), torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    )
    grey = ForeignArch("pix2pix_unet", 1, 1).from_model_output(
        torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3)
    )
    assert grey.shape == (1, 3, 1, 3) and grey[0, :, 0, 1].tolist() == [0.5, 0.5, 0.5]
    with pytest.raises(SarcolorError, match="norm must be one of"):
        ForeignArch("pix2pix_unet", 1, 3, norm="group")  # type: ignore[arg-type]
    with pytest.raises(SarcolorError, match="sar2optical_unet has fixed widths"):
        ForeignArch("sar2optical_unet", 3, 3, ngf=32)
    with pytest.raises(SarcolorError, match=r"takes 3 channel\(s\), got 2"):
        s2o.to_model_input(torch.zeros(1, 2, 256, 256))
    with pytest.raises(ValueError, match="multiples of 256"):
        Sar2OpticalGenerator()(torch.zeros(1, 3, 128, 128))
