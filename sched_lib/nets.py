"""A compact U-Net for 32×32 (and 64×64) images, conditioned on the timestep or on the log-SNR.

The architecture is the DDPM / improved-diffusion U-Net (Ho et al. 2020, Appendix B; Nichol &
Dhariwal 2021, §2.2 and their ``unet.py``), kept small and readable:

* a sinusoidal embedding of a scalar noise-level input (Vaswani et al. 2017, §3.5, as in DDPM),
  followed by a two-layer MLP;
* residual blocks (GroupNorm → SiLU → 3×3 conv, twice) whose second normalisation is modulated
  by the embedding, ``h = GN(h)·(1 + scale) + shift`` (improved-diffusion's ``use_scale_shift_norm``);
* multi-head self-attention at chosen resolutions and always in the middle of the network
  (``torch.nn.functional.scaled_dot_product_attention``);
* strided 3×3 convs down, nearest-neighbour upsampling + 3×3 conv up, skip connections by
  concatenation; the last conv of every residual branch and of the output is zero-initialised, so a
  fresh network predicts 0 (and starts as the identity on every residual path).

What the network sees as its noise level is a separate choice (chapter "SNR and log-SNR"):
:class:`Denoiser` wraps a :class:`UNet` with a table that maps each 0-indexed step k to the scalar
fed to the embedding, either the time ``1000·(k + 1)/T`` (``cond="t"``, DDPM) or the log-SNR
``25·clip(λ_k, −30, 30)`` (``cond="log_snr"``, as in VDM, Kingma et al. 2021, and simple diffusion,
Hoogeboom et al. 2023). Both inputs span roughly [−750, 1000], the range the embedding's
frequencies (periods 2π to 2π·10⁴) resolve; a zero-terminal-SNR step (λ = −inf) maps to −750.

Shapes: images are float (N, C, H, W) with H = W = ``image_size``; the conditioning scalar is float
(N,); :class:`Denoiser` takes int64 steps (N,). Sizes come from the presets
(:mod:`sched_lib.presets`); the code path is the same for every size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import _validate as check

__all__ = [
    "CONDITIONINGS",
    "UNetConfig",
    "UNet",
    "Denoiser",
    "conditioning_table",
    "timestep_embedding",
    "count_parameters",
]

#: What a :class:`Denoiser` feeds to the network's embedding: the time or the log-SNR.
CONDITIONINGS = ("t", "log_snr")

#: Multiplier and clip of the log-SNR before the sinusoidal embedding (see the module docstring).
LOG_SNR_SCALE = 25.0
LOG_SNR_CLIP = 30.0


@dataclass(frozen=True)
class UNetConfig:
    """Sizes of a :class:`UNet` (a frozen, JSON-ready dataclass; presets fill it in).

    Attributes:
        image_size: side of the square input images in pixels; divisible by ``2**(len(channel_mult)-1)``.
        in_channels: image channels (3 for RGB); the output has the same number.
        channels: base width (channels of the first level).
        channel_mult: width multiplier of each resolution level, from the input resolution down.
        num_res_blocks: residual blocks per level on the way down (one more on the way up).
        attn_resolutions: resolutions (pixels) at which self-attention follows each residual block;
            each must be one of the levels' resolutions. The middle always has attention.
        head_channels: channels per attention head (heads = width // head_channels, at least 1).
        dropout: dropout rate inside the residual blocks (0 disables it).
    """

    image_size: int = 32
    in_channels: int = 3
    channels: int = 64
    channel_mult: tuple = (1, 2, 2)
    num_res_blocks: int = 2
    attn_resolutions: tuple = (16,)
    head_channels: int = 64
    dropout: float = 0.1

    def __post_init__(self):
        check.num_steps(self.image_size, "image_size")
        check.num_steps(self.in_channels, "in_channels")
        check.num_steps(self.channels, "channels")
        check.num_steps(self.num_res_blocks, "num_res_blocks")
        check.num_steps(self.head_channels, "head_channels")
        check.real(self.dropout, "dropout", low=0, high=1, high_open=True)
        mult = tuple(self.channel_mult)
        if not mult:
            raise ValueError("channel_mult must be a non-empty tuple of positive ints, got ()")
        for m in mult:
            check.num_steps(m, "channel_mult entries")
        factor = 2 ** (len(mult) - 1)
        if self.image_size % factor:
            raise ValueError(
                f"image_size must be divisible by 2**(len(channel_mult)-1) = {factor} "
                f"(one halving per level), got image_size={self.image_size}, channel_mult={mult}"
            )
        attn = tuple(int(r) for r in self.attn_resolutions)
        levels = self.resolutions()
        bad = [r for r in attn if r not in levels]
        if bad:
            raise ValueError(
                f"attn_resolutions must be among the levels' resolutions {levels}, got {bad}"
            )
        object.__setattr__(self, "channel_mult", mult)
        object.__setattr__(self, "attn_resolutions", attn)
        object.__setattr__(self, "dropout", float(self.dropout))

    def resolutions(self) -> tuple:
        """Resolution (pixels) of each level, e.g. (32, 16, 8) for 32×32 and three levels."""
        return tuple(self.image_size // 2**i for i in range(len(tuple(self.channel_mult))))

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["attn_resolutions"] = list(self.attn_resolutions)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        if not isinstance(d, dict):
            raise ValueError(f"a UNetConfig dict is required, got {type(d).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown UNetConfig field(s) {unknown}; valid: {sorted(known)}")
        d = dict(d)
        for key in ("channel_mult", "attn_resolutions"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _groups(c: int) -> int:
    """GroupNorm groups for ``c`` channels: 32 when it divides c (DDPM), else gcd(c, 32)."""
    return math.gcd(c, 32)


def timestep_embedding(c: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of a float (N,) input: [cos(c·f_i), sin(c·f_i)], f_i = max_period^(−i/half).

    Vaswani et al. 2017, §3.5; DDPM's ``get_timestep_embedding``. Returns float32 (N, dim).
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=c.device) / half
    )
    args = c.to(torch.float32)[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """GN → SiLU → conv, then GN modulated by the embedding (scale, shift) → SiLU → dropout → conv."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the H·W positions, with a residual connection."""

    def __init__(self, c: int, head_channels: int):
        super().__init__()
        self.heads = max(1, c // head_channels)
        if c % self.heads:
            raise ValueError(f"attention width {c} is not divisible into {self.heads} heads")
        self.norm = nn.GroupNorm(_groups(c), c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = _zero(nn.Conv2d(c, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w)
        q, k, v = (qkv[:, i].transpose(-1, -2) for i in range(3))  # (n, heads, hw, d)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(-1, -2).reshape(n, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Halve the resolution with a stride-2 3×3 conv."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour upsampling then a 3×3 conv."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One residual block, optionally followed by attention."""

    def __init__(self, c_in, c_out, emb_dim, dropout, attn: bool, head_channels: int):
        super().__init__()
        self.res = ResBlock(c_in, c_out, emb_dim, dropout)
        self.attn = AttentionBlock(c_out, head_channels) if attn else None

    def forward(self, x, emb):
        x = self.res(x, emb)
        return self.attn(x) if self.attn is not None else x


class UNet(nn.Module):
    """The DDPM / improved-diffusion U-Net (Ho et al. 2020; Nichol & Dhariwal 2021), sized by a config.

    ``UNet(config)(x, c)``: x float (N, C, H, W) with H = W = ``config.image_size``; c float (N,),
    the noise-level input of the sinusoidal embedding (see :class:`Denoiser` for what it means).
    Returns a tensor of x's shape and dtype (under autocast, the autocast dtype).
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        if not isinstance(config, UNetConfig):
            raise ValueError(f"config must be a UNetConfig, got {type(config).__name__}")
        self.config = cfg = config
        ch = cfg.channels
        emb_dim = 4 * ch
        self.emb_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)

        resolutions = cfg.resolutions()
        self.down = nn.ModuleList()
        skip_channels = [ch]
        c = ch
        for level, mult in enumerate(cfg.channel_mult):
            attn = resolutions[level] in cfg.attn_resolutions
            for _ in range(cfg.num_res_blocks):
                self.down.append(_Level(c, mult * ch, emb_dim, cfg.dropout, attn, cfg.head_channels))
                c = mult * ch
                skip_channels.append(c)
            if level + 1 < len(cfg.channel_mult):
                self.down.append(Downsample(c))
                skip_channels.append(c)

        self.mid1 = ResBlock(c, c, emb_dim, cfg.dropout)
        self.mid_attn = AttentionBlock(c, cfg.head_channels)
        self.mid2 = ResBlock(c, c, emb_dim, cfg.dropout)

        self.up = nn.ModuleList()
        for level in reversed(range(len(cfg.channel_mult))):
            mult = cfg.channel_mult[level]
            attn = resolutions[level] in cfg.attn_resolutions
            for _ in range(cfg.num_res_blocks + 1):
                c_skip = skip_channels.pop()
                self.up.append(_Level(c + c_skip, mult * ch, emb_dim, cfg.dropout, attn, cfg.head_channels))
                c = mult * ch
            if level > 0:
                self.up.append(Upsample(c))
        assert not skip_channels

        self.norm_out = nn.GroupNorm(_groups(c), c)
        self.conv_out = _zero(nn.Conv2d(c, cfg.in_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels or x.shape[2:] != (cfg.image_size, cfg.image_size):
            raise ValueError(
                f"x must have shape (N, {cfg.in_channels}, {cfg.image_size}, {cfg.image_size}), "
                f"got {tuple(x.shape)}"
            )
        if c.ndim != 1 or c.shape[0] != x.shape[0]:
            raise ValueError(f"c must have shape ({x.shape[0]},), got {tuple(c.shape)}")
        emb = self.emb_mlp(timestep_embedding(c, cfg.channels).to(self.conv_in.weight.dtype))
        h = self.conv_in(x)
        hs = [h]
        for block in self.down:
            h = block(h) if isinstance(block, Downsample) else block(h, emb)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for block in self.up:
            if isinstance(block, Upsample):
                h = block(h)
            else:
                h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


def conditioning_table(cond: str, log_snr) -> np.ndarray:
    """The scalar a :class:`Denoiser` feeds to the embedding at each 0-indexed step k, float64 (T,).

    ``cond="t"``: 1000·(k + 1)/T, the continuous time t ∈ (0, 1] times 1000 (DDPM feeds the step
    index; this is the same up to a shift and does not depend on T). ``cond="log_snr"``:
    25·clip(λ_k, −30, 30) (chapter "SNR and log-SNR"; λ = −inf at zero terminal SNR maps to −750).

    Args:
        cond: one of :data:`CONDITIONINGS`.
        log_snr: the schedule's λ_1..λ_T (float (T,), ``ScheduleQuantities.log_snr``); only its length
            is used for ``cond="t"``. NaN is refused; ±inf is allowed.
    """
    check.choice(cond, "cond", CONDITIONINGS)
    lam = check.array(log_snr, "log_snr", ndim=1, allow_inf=True)
    if lam.size < 1:
        raise ValueError("log_snr must hold at least one step")
    if cond == "t":
        return 1000.0 * np.arange(1, lam.size + 1, dtype=np.float64) / lam.size
    return LOG_SNR_SCALE * np.clip(lam, -LOG_SNR_CLIP, LOG_SNR_CLIP)


class Denoiser(nn.Module):
    """``model(x_t, t)`` for the training loss and the samplers: a :class:`UNet` plus a step → input table.

    ``Denoiser(unet, table)`` with ``table`` from :func:`conditioning_table` (float64 (T,), stored as a
    float32 non-persistent buffer: it comes from the run's config, not from the checkpoint). Forward:
    x_t float (N, C, H, W), t int64 (N,) 0-indexed steps in [0, T−1] → the network's output in the
    prediction frame the run trains (ε, x₀ or v), shape of x_t.
    """

    def __init__(self, unet: UNet, table):
        super().__init__()
        if not isinstance(unet, UNet):
            raise ValueError(f"unet must be a UNet, got {type(unet).__name__}")
        self.unet = unet
        tab = check.array(table, "table", ndim=1)
        self.register_buffer("table", torch.as_tensor(tab, dtype=torch.float32), persistent=False)

    @property
    def T(self) -> int:
        """Number of diffusion steps the table covers."""
        return int(self.table.shape[0])

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, torch.Tensor) or t.dtype.is_floating_point or t.ndim != 1:
            raise ValueError("t must be an integer tensor of 0-indexed steps, shape (N,)")
        return self.unet(x, self.table[t])


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
