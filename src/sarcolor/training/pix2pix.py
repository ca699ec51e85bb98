"""One pix2pix training step, as in the paper: forward G; update D on (real, detached fake);
update G on adversarial + λ·L1 with D frozen.

The pix2pixHD-style options change only the discriminator side: D may judge several scales
(``model.d_scales``), be spectrally normalised, use another GAN loss, add feature matching to
G's loss (``train.lambda_fm``), see differentiably augmented pairs (``train.d_augment``: the
same transform on the real and the fake pair of a sample, in both steps) and learn at its own
rate (``train.lr_d``). With the defaults the step is exactly the founding one.

With a validity mask (padded BigEarthNet patches, nodata), L1 is the mean over valid pixels
only (:func:`masked_l1`); the adversarial terms still see the whole (padded) frame. Without a
mask, or with one that is all ones, the step is exactly the unmasked one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from sarcolor.config import Config
from sarcolor.data.dataset import index_seed
from sarcolor.errors import SarcolorError
from sarcolor.models import augment as diffaugment
from sarcolor.models import build_networks, discriminator_loss, generator_loss
from sarcolor.models.losses import feature_matching_loss
from sarcolor.models.multiscale import features_of, logits_of
from sarcolor.parallel import DistContext
from sarcolor.runtime import autocast, compile_in_place, place
from sarcolor.training.autotune import TrainPath, rule_path
from sarcolor.training.distributed import convert_sync_batchnorm, wrap


class NonFiniteLossError(SarcolorError):
    """A loss became NaN or infinite; the step was not applied."""


class Pix2Pix:
    """The two networks, their optimizers and the learning-rate schedule.

    Args:
        cfg: the run configuration (widths, learning rate, λ, schedule).
        total_steps: length of the run, for the linear learning-rate decay.
        device: where the networks live (this rank's device under torchrun).
        dist: the process group's layout; with several processes G and D are each wrapped in
            DistributedDataParallel (``G_train``, ``D_train``), while ``G`` and ``D`` stay the
            plain modules that are saved, sampled and evaluated.
        path: precision, layout and compilation (:func:`~sarcolor.training.autotune.choose_training_path`);
            by default ``cfg``'s, ``auto`` resolved by rule, unmeasured.
    """

    SHOWN: tuple[str, ...] = ("D", "G_GAN", "G_L1")  # in the progress bar; every loss is logged

    def __init__(
        self,
        cfg: Config,
        total_steps: int,
        device: torch.device,
        dist: DistContext | None = None,
        path: TrainPath | None = None,
    ) -> None:
        self.cfg, self.device, self.total_steps = cfg, device, total_steps
        self.dist = dist = dist or DistContext()
        t = cfg.train
        self.path = path or rule_path(cfg, device)
        self.precision, self.channels_last = self.path.precision, self.path.channels_last
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        self.G, self.D = (place(net, device, layout) for net in build_networks(cfg))
        if dist.enabled and t.sync_bn:
            convert_sync_batchnorm(self.G)
            convert_sync_batchnorm(self.D)
        self.compiled = self.path.compiled
        if self.compiled:
            compile_in_place(self.G)
            compile_in_place(self.D)
        self.G_train, self.D_train = wrap(self.G, dist, device), wrap(self.D, dist, device)
        self.opt_G = _adam(self.G, t.lr, (t.beta1, t.beta2))
        self.opt_D = _adam(self.D, t.lr if t.lr_d is None else t.lr_d, (t.beta1, t.beta2))
        self.augment_policy = diffaugment.parse_policy(t.d_augment)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")
        self.decay_start = total_steps - round(t.lr_decay_fraction * total_steps)
        factor = lambda step: lr_factor(step, self.decay_start, total_steps)  # noqa: E731
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, factor) for opt in (self.opt_G, self.opt_D)]

    @property
    def lr(self) -> float:
        return float(self.opt_G.param_groups[0]["lr"])

    def set_step(self, step: int) -> None:
        """Put the learning-rate schedule at ``step`` (after resuming)."""
        for sched in self.schedulers:
            sched.last_epoch = step
            for group in sched.optimizer.param_groups:
                group["lr"] = group["initial_lr"] * lr_factor(step, self.decay_start, self.total_steps)

    def train_step(
        self, net_input: torch.Tensor, target: torch.Tensor, step: int, mask: torch.Tensor | None = None
    ) -> dict[str, float]:
        """One optimisation step on (B, in_channels, H, W) inputs and (B, C, H, W) targets in [-1, 1].

        ``mask`` (B, 1, H, W), 1 for valid pixels, restricts the L1 loss to them; ``None``
        (every pixel valid) gives the plain pix2pix loss.

        Under torchrun the inputs are this rank's slice of the global batch; the returned losses
        (and the finite check) are means over all ranks, so every rank takes the same decision.

        Raises:
            NonFiniteLossError: a loss was NaN/Inf. The network whose loss it was is not
                updated, and the BatchNorm statistics of both are put back as they were.
        """
        self.G.train()
        self.D.train()
        if self.channels_last:
            net_input = net_input.contiguous(memory_format=torch.channels_last)
            target = target.contiguous(memory_format=torch.channels_last)
        buffers = _buffers(self.G, self.D)  # forward passes update BatchNorm running statistics
        mixed = autocast(self.device, self.precision)
        with mixed:
            fake = self.G_train(net_input)

        t = self.cfg.train
        seen = self._augmenter(net_input, step)  # what D sees of a pair: itself, or augmented
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with mixed:
            real_out = self.D_train(seen(torch.cat([net_input, target], dim=1)))
            fake_out = self.D_train(seen(torch.cat([net_input, fake.detach()], dim=1)))
            d_losses = discriminator_loss(logits_of(real_out), logits_of(fake_out), t.gan_loss)
        d_report = self._report(d_losses, step, buffers, "neither network was updated")
        self.scaler.scale(d_losses["D"]).backward()
        self.scaler.step(self.opt_D)

        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with mixed:  # the plain D: its parameters are frozen, nothing for its DDP wrapper to reduce
            out = self.D(seen(torch.cat([net_input, fake], dim=1)))
            g_losses = generator_loss(logits_of(out), fake.float(), target, t.lambda_l1, t.gan_loss)
            if mask is not None:
                l1 = masked_l1(fake.float(), target, mask)
                gan = g_losses["G_GAN"]
                g_losses = {"G_GAN": gan, "G_L1": l1, "G": gan + t.lambda_l1 * l1}
            if t.lambda_fm > 0:  # D's features of the real pair, as D saw it before its update
                fm = feature_matching_loss(features_of(out), features_of(real_out))
                g_losses = {**g_losses, "G_FM": fm, "G": g_losses["G"] + t.lambda_fm * fm}
        g_report = self._report(g_losses, step, buffers, "D was updated, G was not")
        self.scaler.scale(g_losses["G"]).backward()
        self.scaler.step(self.opt_G)
        self.scaler.update()
        for sched in self.schedulers:
            sched.step()
        return {**d_report, **g_report}

    def _augmenter(self, net_input: torch.Tensor, step: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """The function that gives D its view of a (B, C, H, W) pair at ``step``: the identity,
        or DiffAugment with this step's parameters (the same for a sample's real and fake pair).

        The draws are seeded by (seed, step) and made for the global batch, of which this rank
        keeps its slice: resuming and the number of processes do not change them."""
        if not self.augment_policy:
            return lambda pair: pair
        local = net_input.shape[0]
        params = diffaugment.draw(
            self.augment_policy,
            (net_input.shape[-2], net_input.shape[-1]),
            index_seed(self.cfg.train.seed, step, 0xA06),
            local * self.dist.world_size,
            slice(self.dist.rank * local, (self.dist.rank + 1) * local),
        )
        channels = self.cfg.preprocess.out_channels
        return lambda pair: diffaugment.apply(pair, params, channels)

    def _report(
        self,
        losses: dict[str, torch.Tensor],
        step: int,
        buffers: list[tuple[torch.Tensor, torch.Tensor]],
        applied: str,
    ) -> dict[str, float]:
        """The losses as floats (means over ranks); raises when any is non-finite."""
        names = list(losses)
        values = self.dist.mean(torch.stack([losses[k].detach().float() for k in names])).tolist()
        bad = [k for k, v in zip(names, values, strict=True) if not math.isfinite(v)]
        if bad:
            with torch.no_grad():
                for buffer, saved in buffers:
                    buffer.copy_(saved)
            raise NonFiniteLossError(f"non-finite loss ({', '.join(bad)}) at step {step}: {applied}")
        return dict(zip(names, values, strict=True))

    def weights_finite(self) -> bool:
        """Whether every parameter and buffer of both networks is finite (checked before saving)."""
        return all(
            bool(torch.isfinite(t).all())
            for net in (self.G, self.D)
            for t in (*net.parameters(), *net.buffers())
            if t.is_floating_point()
        )


def _adam(net: torch.nn.Module, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """Adam with the fused kernel (one pass over all parameters) where this PyTorch has it for
    the device: on the 2-core CPU a generator step took 15 ms fused against 153 ms with the
    default multi-tensor loop (~12 % of a training step at batch 8)."""
    try:
        return torch.optim.Adam(net.parameters(), lr=lr, betas=betas, fused=True)
    except RuntimeError:  # e.g. CPU before PyTorch 2.4
        return torch.optim.Adam(net.parameters(), lr=lr, betas=betas)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |pred − target| over the pixels where ``mask`` (B, 1, H, W) is 1, all channels.

    Equal to ``F.l1_loss`` over the valid region alone; 0 when no pixel is valid.
    """
    weight = mask.float().expand_as(pred)  # float32: a bf16 sum of ~300k ones is off by ~0.2 %
    return ((pred - target).abs() * weight).sum() / weight.sum().clamp_min(1.0)


def _buffers(*nets: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(buffer, copy) of every BatchNorm statistic, to put back after a non-finite step."""
    return [(b, b.detach().clone()) for net in nets for b in net.buffers()]


def lr_factor(step: int, decay_start: int, total_steps: int) -> float:
    """pix2pix's schedule: 1 until ``decay_start``, then linearly down to 0 at ``total_steps``."""
    if step < decay_start or total_steps <= decay_start:
        return 1.0
    return max(0.0, (total_steps - step) / (total_steps - decay_start))
