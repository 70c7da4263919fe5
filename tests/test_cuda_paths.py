"""The CUDA code paths of the training step, exercised on the CPU (sched_lib.train.Trainer.step):
``torch.compile`` (compiled step = eager step), bf16 autocast (one step, close to fp32) and the fp16
gradient-scaler protocol (the scaler mocked at its interface). Each test compares the Trainer against a
step written out here from its definition (loss → backward → clip → AdamW → EMA), so that a wrong step
fails, not only a difference between two paths of the same wrong step.

Model: the ``smoke`` preset's 0.18 M-parameter U-Net (no dropout), batch 4: each test takes seconds
(compile: tens of seconds on 2 cores)."""

import copy

import pytest
import torch

from sched_lib import train as train_mod
from sched_lib.process import training_loss
from sched_lib.train import Runtime, Trainer, TrainConfig


@pytest.fixture(autouse=True)
def one_cpu_thread():
    """One CPU thread for these comparisons (the compiled and eager steps then sum in the same order), put back
    afterwards: a process-wide setting left behind changes other tests' results (bit-identical resume)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(**kw):
    args = dict(schedule="cosine", weighting="min_snr", prediction="eps")
    args.update(kw)
    return TrainConfig.from_preset("smoke", **args)


def _x0(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g) * 2 - 1


def _reference_step(trainer: Trainer, step: int, x0, seed: int):
    """One step written from its definition on a deep copy of ``trainer``'s fp32 network: loss (the same
    t and ε: same generator seed), backward, global-norm clip, AdamW at the warm-up learning rate, EMA."""
    cfg = trainer.config
    net = copy.deepcopy(trainer.net)
    ema = copy.deepcopy(trainer.ema)
    params = list(net.parameters())
    lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps)
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), weight_decay=cfg.weight_decay)
    res = training_loss(lambda xt, t: net(xt, t).float(), x0, trainer.process, prediction=cfg.prediction,
                        weighting=trainer.weighting, generator=torch.Generator().manual_seed(seed))
    res.loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
    opt.step()
    decay = min(cfg.ema_decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for e, p in zip(ema.parameters(), params):
            e.mul_(decay).add_(p, alpha=1 - decay)
    return res.loss.detach(), norm, params, list(ema.parameters())


def _max_rel(a_list, b_list):
    return max(((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item() for a, b in zip(a_list, b_list))


def test_eager_step_matches_its_definition():
    trainer = Trainer(_config(), Runtime(device="cpu", progress=False))
    loss_ref, norm_ref, p_ref, ema_ref = _reference_step(trainer, 0, _x0(), seed=3)
    out = trainer.step(0, _x0(), torch.Generator().manual_seed(3))
    # same operations in the same order on float32: equal up to a few float32 roundings
    assert out.loss.item() == pytest.approx(loss_ref.item(), rel=1e-6)
    assert out.grad_norm.item() == pytest.approx(norm_ref.item(), rel=1e-5)
    assert _max_rel(trainer.params, p_ref) < 1e-6
    assert _max_rel(trainer.ema_params, ema_ref) < 1e-6
    assert any((a - b).abs().max() > 0 for a, b in zip(trainer.params, copy.deepcopy(trainer.ema_params)))


def test_compiled_step_agrees_with_eager():
    """``Runtime(compile=True)`` wraps the model in ``torch.compile`` (inductor, C++ on the CPU); three steps
    of the compiled and the eager trainer from the same seed agree to float32 reassociation error (inductor
    fuses and reorders reductions: relative differences ~1e-6 per op in the loss and gradients). The weight
    *updates* are compared as whole vectors: AdamW's early updates are ≈ lr·sign(g) elementwise, so an
    element whose gradient is ≈ 0 can flip sign under reassociation and no elementwise bound holds; the
    relative norm of the update difference stays small (bound 5e-2), while a wrong step changes it by O(1)."""
    eager = Trainer(_config(), Runtime(device="cpu", progress=False))
    comp = Trainer(_config(), Runtime(device="cpu", compile=True, progress=False))
    comp.wrap()
    init = [p.detach().clone() for p in eager.params]
    assert comp.model is not comp.net  # compiled wrapper in use
    x0 = _x0()
    try:
        out_c = [comp.step(k, x0, torch.Generator().manual_seed(10 + k)) for k in range(3)]
    except Exception as err:  # noqa: BLE001 - inductor needs a working C++ toolchain
        pytest.skip(f"torch.compile (inductor) cannot compile on this CPU build: {type(err).__name__}: {err}"[:300])
    out_e = [eager.step(k, x0, torch.Generator().manual_seed(10 + k)) for k in range(3)]
    for c, e in zip(out_c, out_e):
        assert c.loss.item() == pytest.approx(e.loss.item(), rel=1e-4)
        assert c.grad_norm.item() == pytest.approx(e.grad_norm.item(), rel=1e-3)
    d_c = torch.cat([(p - q).flatten() for p, q in zip(comp.params, init)])
    d_e = torch.cat([(p - q).flatten() for p, q in zip(eager.params, init)])
    assert d_e.norm() > 0 and ((d_c - d_e).norm() / d_e.norm()).item() < 5e-2
    # and the step it ran is the defined one (first step from the same initial weights)
    fresh = Trainer(_config(), Runtime(device="cpu", progress=False))
    loss_ref, *_ = _reference_step(fresh, 0, x0, seed=10)
    assert out_c[0].loss.item() == pytest.approx(loss_ref.item(), rel=1e-4)


def test_bf16_autocast_step_on_cpu():
    """``amp="bf16"`` runs the network's matmuls/convolutions in bfloat16 (checked with a forward hook) and
    returns a finite loss close to the fp32 loss: bf16 keeps 8 significant bits (unit roundoff
    2^-8 ≈ 3.9e-3); the loss is a mean of squared errors whose per-element errors are independent-ish
    roundings through ~20 layers, so its relative error is a few 1e-3. 2e-2 is the bound; the
    fp32-vs-bf16 gradient norms must also differ (autocast really on)."""
    fp32 = Trainer(_config(), Runtime(device="cpu", amp="none", progress=False))
    bf16 = Trainer(_config(), Runtime(device="cpu", amp="bf16", progress=False))
    assert bf16.amp_dtype is torch.bfloat16 and bf16.scaler is None
    dtypes = []
    conv = next(m for m in bf16.net.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    x0 = _x0()
    out_b = bf16.step(0, x0, torch.Generator().manual_seed(5))
    out_f = fp32.step(0, x0, torch.Generator().manual_seed(5))
    assert dtypes and all(d is torch.bfloat16 for d in dtypes)
    assert out_b.loss.dtype is torch.float32 and torch.isfinite(out_b.loss) and torch.isfinite(out_b.grad_norm)
    assert out_b.loss.item() == pytest.approx(out_f.loss.item(), rel=2e-2)
    # the loss itself can round to the same float32 (at initialisation the output layer is ~0, so the loss is
    # ≈ mean ε²); the gradients pass through every bf16 layer and must differ
    assert out_b.grad_norm.item() != out_f.grad_norm.item()
    assert out_b.grad_norm.item() == pytest.approx(out_f.grad_norm.item(), rel=5e-2)
    assert all(p.dtype is torch.float32 and torch.isfinite(p).all() for p in bf16.params)  # fp32 master weights


class MockScaler:
    """``torch.amp.GradScaler``'s interface, with its semantics written out: scale multiplies the loss by
    S, unscale_ divides the gradients by S and records whether any is non-finite, step skips
    ``opt.step()`` when one was, update halves S after a skip. Every call is logged."""

    def __init__(self, scale=1024.0):
        self.S, self.calls, self.found_inf, self.grad_norm_at_step = scale, [], False, None

    def scale(self, loss):
        self.calls.append("scale")
        return loss * self.S

    def unscale_(self, opt):
        self.calls.append("unscale_")
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        for gr in grads:
            gr.div_(self.S)
        self.found_inf = not all(torch.isfinite(gr).all() for gr in grads)

    def step(self, opt):
        self.calls.append("step")
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        self.grad_norm_at_step = torch.norm(torch.stack([gr.norm() for gr in grads])).item()
        if not self.found_inf:
            opt.step()

    def update(self):
        self.calls.append("update")
        if self.found_inf:
            self.S /= 2

    def state_dict(self):
        return {"scale": self.S}


def _scaled_trainer():
    trainer = Trainer(_config(), Runtime(device="cpu", progress=False))
    trainer.scaler = MockScaler()
    return trainer


def test_grad_scaler_protocol_matches_the_unscaled_step():
    trainer = _scaled_trainer()
    loss_ref, norm_ref, p_ref, _ = _reference_step(trainer, 0, _x0(), seed=7)
    out = trainer.step(0, _x0(), torch.Generator().manual_seed(7))
    assert trainer.scaler.calls == ["scale", "unscale_", "step", "update"]
    # clipping saw the unscaled gradients (unscale_ before clip_grad_norm_), so the step is the fp32 one
    assert out.grad_norm.item() == pytest.approx(norm_ref.item(), rel=1e-5)
    assert trainer.scaler.grad_norm_at_step <= trainer.config.grad_clip * (1 + 1e-5)  # clipped before step
    assert _max_rel(trainer.params, p_ref) < 1e-5
    assert trainer.scaler.S == 1024.0


def test_grad_scaler_skips_the_step_on_inf_gradients():
    trainer = _scaled_trainer()
    trainer.scaler.S = float("inf")  # fp16 overflow: the scaled loss, and every gradient, is inf/nan
    before = [p.detach().clone() for p in trainer.params]
    adam_state_before = len(trainer.opt.state)
    trainer.step(0, _x0(), torch.Generator().manual_seed(7))
    assert trainer.scaler.calls == ["scale", "unscale_", "step", "update"]
    assert trainer.scaler.found_inf
    assert all(torch.equal(a, b) for a, b in zip(trainer.params, before))  # optimiser step skipped
    assert len(trainer.opt.state) == adam_state_before  # AdamW never stepped
    assert all(torch.isfinite(p).all() for p in trainer.ema_params)


def test_fp16_resolves_to_a_scaler_only_on_cuda(monkeypatch):
    with pytest.raises(ValueError, match="fp16"):
        Runtime(device="cpu", amp="fp16").resolve()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(train_mod, "_native_bf16", lambda: False)  # a T4: no native bf16
    device, dtype, use_scaler, channels_last = Runtime(device="cuda").resolve()
    assert (device.type, dtype, use_scaler, channels_last) == ("cuda", torch.float16, True, True)
    monkeypatch.setattr(train_mod, "_native_bf16", lambda: True)  # Ampere and later
    assert Runtime(device="cuda").resolve()[1:3] == (torch.bfloat16, False)
