"""The U-Net and its noise-level conditioning (sched_lib.nets), and the preset model sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sched_lib.nets import (
    CONDITIONINGS,
    Denoiser,
    UNet,
    UNetConfig,
    conditioning_table,
    count_parameters,
    timestep_embedding,
)
from sched_lib.presets import PRESETS
from sched_lib.quantities import get_schedule_quantities
from sched_lib.schedules import get_schedule

TINY = UNetConfig(channels=8, channel_mult=(1, 2), num_res_blocks=1, attn_resolutions=(16,), head_channels=8,
                  dropout=0.0)


def _randomise_zero_layers(net: torch.nn.Module, seed: int = 0) -> None:
    """Give the zero-initialised output convs random weights, so outputs and gradients are generic."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if not p.any():
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("size,mult", [(32, (1, 2)), (64, (1, 2, 2))])
def test_unet_shapes_zero_init_and_gradients(size, mult):
    torch.manual_seed(0)
    cfg = UNetConfig(image_size=size, channels=8, channel_mult=mult, num_res_blocks=1,
                     attn_resolutions=(size // 2,), head_channels=8, dropout=0.0)
    net = UNet(cfg)
    x = torch.randn(2, 3, size, size)
    c = torch.tensor([10.0, 900.0])
    out = net(x, c)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.count_nonzero(out) == 0, "the output conv is zero-initialised: a fresh net predicts 0"
    _randomise_zero_layers(net)
    out = net(x, c)
    assert torch.isfinite(out).all() and out.abs().sum() > 0
    out.square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"parameters without gradient: {missing}"


def test_output_depends_on_the_noise_level_input():
    net = UNet(TINY)
    _randomise_zero_layers(net)
    x = torch.randn(1, 3, 32, 32).expand(2, 3, 32, 32)
    out = net(x, torch.tensor([100.0, 101.0]))
    assert not torch.allclose(out[0], out[1]), "neighbouring steps must give different outputs"


def test_channels_last_gives_the_same_output():
    net = UNet(TINY)
    _randomise_zero_layers(net)
    x = torch.randn(3, 3, 32, 32)
    c = torch.tensor([1.0, 500.0, 1000.0])
    ref = net(x, c)
    net_cl = net.to(memory_format=torch.channels_last)
    out = net_cl(x.contiguous(memory_format=torch.channels_last), c)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_timestep_embedding():
    emb = timestep_embedding(torch.tensor([0.0, 1.0]), 8)
    assert emb.shape == (2, 8) and emb.dtype == torch.float32
    np.testing.assert_allclose(emb[0].numpy(), [1, 1, 1, 1, 0, 0, 0, 0])  # cos(0)=1, sin(0)=0
    np.testing.assert_allclose(emb[1, 0].item(), np.cos(1.0), rtol=1e-6)  # the highest frequency is 1
    assert timestep_embedding(torch.tensor([3.0]), 7).shape == (1, 7)


def test_conditioning_tables():
    q = get_schedule_quantities(get_schedule("cosine", 1000))
    t_tab = conditioning_table("t", q.log_snr)
    assert t_tab.shape == (1000,) and t_tab.dtype == np.float64
    assert t_tab[0] == 1.0 and t_tab[-1] == 1000.0 and np.all(np.diff(t_tab) > 0)
    lam_tab = conditioning_table("log_snr", q.log_snr)
    np.testing.assert_allclose(lam_tab, 25.0 * np.clip(q.log_snr, -30, 30))
    assert np.all(np.diff(lam_tab) < 0), "log-SNR falls with t"
    # Zero terminal SNR: lambda_T = -inf is clipped, never inf or NaN in the model input.
    qz = get_schedule_quantities(get_schedule("linear", 1000, zero_terminal_snr=True))
    assert qz.log_snr[-1] == -np.inf
    z = conditioning_table("log_snr", qz.log_snr)
    assert np.isfinite(z).all() and z[-1] == -750.0
    with pytest.raises(ValueError, match="cond"):
        conditioning_table("sigma", q.log_snr)
    with pytest.raises(ValueError, match="NaN"):
        conditioning_table("log_snr", [0.0, np.nan])


@pytest.mark.parametrize("cond", CONDITIONINGS)
def test_denoiser_maps_steps_through_its_table(cond):
    q = get_schedule_quantities(get_schedule("cosine", 50))
    table = conditioning_table(cond, q.log_snr)
    model = Denoiser(UNet(TINY), table)
    _randomise_zero_layers(model)
    assert model.T == 50
    assert "table" not in model.state_dict(), "the table comes from the config, not the checkpoint"
    x = torch.randn(2, 3, 32, 32)
    t = torch.tensor([0, 49])
    expected = model.unet(x, torch.tensor(table[[0, 49]], dtype=torch.float32))
    torch.testing.assert_close(model(x, t), expected)
    with pytest.raises(ValueError, match="integer"):
        model(x, t.float())


@pytest.mark.parametrize("kwargs,match", [
    (dict(image_size=30, channel_mult=(1, 2, 2)), "divisible"),
    (dict(attn_resolutions=(12,)), "attn_resolutions"),
    (dict(dropout=1.0), "dropout"),
    (dict(channels=0), "channels"),
    (dict(channel_mult=()), "channel_mult"),
    (dict(num_res_blocks=1.5), "num_res_blocks"),
])
def test_bad_unet_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UNetConfig(**kwargs)


def test_unet_config_dict_round_trip():
    cfg = UNetConfig(channels=16, channel_mult=[1, 2], attn_resolutions=[16])
    assert cfg.channel_mult == (1, 2) and cfg.attn_resolutions == (16,)
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown UNetConfig field"):
        UNetConfig.from_dict({**cfg.to_dict(), "width": 3})


def test_bad_inputs_are_refused():
    net = UNet(TINY)
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.randn(2, 3, 16, 16), torch.zeros(2))
    with pytest.raises(ValueError, match="c must have shape"):
        net(torch.randn(2, 3, 32, 32), torch.zeros(3))
    with pytest.raises(ValueError, match="UNetConfig"):
        UNet({"channels": 8})


def test_preset_model_sizes():
    """smoke and cpu stay small enough for 2 CPU cores; gpu is the DDPM CIFAR-10 layout (~38 M with scale-shift)."""
    sizes = {name: count_parameters(UNet(p.net)) for name, p in PRESETS.items()}
    assert sizes["smoke"] < 300_000
    assert 500_000 < sizes["cpu"] < 2_000_000
    assert 30_000_000 < sizes["gpu"] < 45_000_000
    for p in PRESETS.values():
        assert p.net.image_size == 32 and p.net.in_channels == 3
