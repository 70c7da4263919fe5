"""Audit a diffusers-style training/sampling recipe for the schedule pitfalls the course teaches.

``audit(config, **options)`` takes a diffusers scheduler config (the dict of ``scheduler_config.json``),
optionally with recipe fields as extra top-level keys or keyword options, and returns an
:class:`AuditReport`: terminal SNR, the λ range of training, the sampler's λ grid, and a list of
**findings**. ``python -m sched_lib.audit CONFIG.json [--json OUT.json] [--plot OUT.png]`` does the same
from the command line (``--help`` lists every flag). All schedule maths comes from ``sched_lib``
(``schedules.get_schedule``, ``quantities.get_schedule_quantities``, ``samplers.timesteps``,
``weighting``); nothing here re-derives a schedule.

Input fields
------------
Scheduler (diffusers names): ``beta_schedule`` (``linear``, ``scaled_linear``, ``squaredcos_cap_v2``,
``sigmoid``), ``beta_start``, ``beta_end``, ``num_train_timesteps``, ``rescale_betas_zero_snr``,
``timestep_spacing``, ``steps_offset``, ``prediction_type`` (``epsilon``, ``v_prediction``, ``sample``,
``flow``), ``trained_betas``, and the flow-matching ``shift`` / ``use_dynamic_shifting`` (a config whose
``_class_name`` starts with ``FlowMatch`` is rectified flow, Esser et al. 2024). Alternatives:
``schedule`` (a ``sched_lib`` name) with ``schedule_params`` (dict), or raw ``alphas_cumprod``.
Keys starting with ``_`` and the diffusers fields in :data:`IGNORED_FIELDS` are accepted and listed in
``ignored_fields``; any other key is an error.

Recipe: ``training_density`` (``uniform`` t, the default; ``log_normal`` σ as EDM, ``density_params``
{``p_mean``, ``p_std``}; ``logit_normal`` t as SD3, flow matching only, ``density_params`` {``loc``,
``scale``}), ``weighting`` (``uniform``, ``min_snr``, ``p2``, ``edm``, ``vlb``), ``snr_gamma`` (Min-SNR γ,
default 5), ``weighting_frame`` (``eps``, ``x0``, ``v``; default: the prediction target's frame),
``min_snr_variant`` (``paper``: min(SNR, γ) in the x₀ frame; ``snr_plus_one``: the v-form
min(SNR + 1, γ)/(SNR + 1) shipped in diffusers before #5654), ``p2_k``, ``p2_gamma``, ``sigma_data``
(EDM, default 0.5), ``sampler_steps`` (default 50), ``sampler_spacing`` (``leading``, ``trailing``,
``linspace``; default ``timestep_spacing`` or diffusers' ``leading``), ``sampler_dtype`` (``float64``,
``float32``, ``float16``, ``bfloat16``; default ``float32``), ``sample_from_pure_noise`` (default true),
``train_resolution_shift`` and ``sample_resolution_shift`` (SD3 time-shift factors s, 1 = none).

Bad input raises :class:`AuditError` (a ``ValueError``) with one line naming the field and what is allowed.

JSON schema (``AuditReport.to_dict()``, ``schema_version`` 1; keys are stable)
------------------------------------------------------------------------------
``schema_version`` int; ``schedule`` {``kind`` ("beta_chain" | "flow_matching"), ``name`` (sched_lib
name or "trained_betas"/"alphas_cumprod"), ``params``, ``num_train_timesteps``, ``prediction_type``,
``zero_terminal_snr_rescaled``}; ``terminal_snr``; ``terminal_log_snr``; ``sqrt_alpha_bar_T`` (the leaked
mean fraction); ``log_snr_range`` [λ_T, λ_1]; ``training_log_snr`` [λ_1, ..., λ_T] (the per-step training grid); ``sampling`` {``steps``, ``spacing``, ``dtype``,
``timesteps`` (0-indexed ints; for flow matching diffusers' σ·T floats), ``log_snr``, ``sigma_max``}; ``weighting`` {``name``, ``frame``, ``params``,
``density``, ``density_params``, ``x0_weight_mass_log_snr`` [λ where 25/50/75 % of the effective weight's
mass, i.e. the x₀-frame weight × the training density over λ (Kingma & Gao 2023's view) is reached counting from t = 1, or null]};
``recipe`` (the normalised options); ``assumptions`` [str]; ``ignored_fields`` [str]; ``findings``
[{``code``, ``severity`` ("error" | "warning" | "info"), ``message``, ``numbers`` {str: number},
``chapter``}]. Infinite numbers are written as the strings "inf" / "-inf"; entries that cannot be
computed (a broken β chain) are null.

Finding codes: ``TERMINAL_SNR_NONZERO``, ``ZERO_TERMINAL_SNR_EPSILON``, ``MIN_SNR_ZERO_SNR``,
``MIN_SNR_V_CLAMP``, ``SAMPLING_SKIPS_LAST_STEP``, ``FLOAT_SIGMA_MAX_CANCELLATION``,
``BETA_END_TOO_SMALL``, ``LINEAR_NAMING_TRAP``, ``BETA_OUT_OF_RANGE``, ``LOG_SNR_NON_MONOTONE``,
``RESOLUTION_SHIFT_MISMATCH``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field

import numpy as np

from .quantities import get_schedule_quantities
from .samplers import SPACINGS, timesteps
from .schedules import get_schedule, list_schedules, rectified_flow_log_snr, sd3_time_shift
from .weighting import EDMLogNormal, LogitNormalTime, min_snr_weight, p2_weight, uniform_weight, vlb_weight

__all__ = ["AuditError", "Finding", "AuditReport", "audit", "main", "IGNORED_FIELDS", "FINDING_CODES"]

SCHEMA_VERSION = 1

SCHEDULER_FIELDS = ("beta_schedule", "beta_start", "beta_end", "num_train_timesteps", "rescale_betas_zero_snr",
                    "timestep_spacing", "steps_offset", "prediction_type", "trained_betas", "shift",
                    "use_dynamic_shifting", "schedule", "schedule_params", "alphas_cumprod")
RECIPE_FIELDS = ("training_density", "density_params", "weighting", "snr_gamma", "weighting_frame", "min_snr_variant", "p2_k", "p2_gamma", "sigma_data",
                 "sampler_steps", "sampler_spacing", "sampler_dtype", "sample_from_pure_noise",
                 "train_resolution_shift", "sample_resolution_shift")
#: diffusers scheduler fields that do not change the schedule's noise levels; accepted and listed.
IGNORED_FIELDS = ("clip_sample", "clip_sample_range", "set_alpha_to_one", "skip_prk_steps", "thresholding",
                  "dynamic_thresholding_ratio", "sample_max_value", "variance_type", "interpolation_type",
                  "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "timestep_type",
                  "final_sigmas_type", "sigma_min", "sigma_max", "base_shift", "max_shift", "base_image_seq_len",
                  "max_image_seq_len", "invert_sigmas", "shift_terminal", "time_shift_type",
                  "stochastic_sampling", "lower_order_final", "solver_order", "algorithm_type", "solver_type",
                  "euler_at_final", "use_lu_lambdas", "lambda_min_clipped", "variance_type", "num_train_steps",
                  "noise_sampler_seed", "predict_x0", "solver_p", "disable_corrector", "use_flow_sigmas",
                  "flow_shift", "timestep_scaling", "original_inference_steps", "clip_denoised")

DIFFUSERS_BETA_SCHEDULES = {"linear": "linear", "scaled_linear": "scaled_linear",
                            "squaredcos_cap_v2": "cosine", "sigmoid": "beta_sigmoid"}
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample", "flow")
DENSITIES = {"uniform": None, "log_normal": EDMLogNormal, "logit_normal": LogitNormalTime}
WEIGHTINGS = ("uniform", "min_snr", "p2", "edm", "vlb")
FRAMES = ("eps", "x0", "v")
MIN_SNR_VARIANTS = ("paper", "snr_plus_one")
DTYPES = {"float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": None}
_EPS = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps),
        "float16": float(np.finfo(np.float16).eps), "bfloat16": 2.0 ** -7}

#: σ_max above which x̂₀ = √(1+σ²)·x − σ·ε̂ loses more than ~1e-4 absolute to cancellation: 1e3 in float32,
#: scaled by machine epsilon for the other dtypes (error ≈ σ·eps; Higham 2002, §1.7 on cancellation).
SIGMA_MAX_FLOAT32 = 1e3

_CH = {
    "TERMINAL_SNR_NONZERO": "chapters/endpoints_and_sampling#what-leaks-through-the-mean-brightness",
    "ZERO_TERMINAL_SNR_EPSILON": "chapters/endpoints_and_sampling#zero-terminal-snr-needs-v-prediction",
    "MIN_SNR_ZERO_SNR": "chapters/weighting#min-snr",
    "MIN_SNR_V_CLAMP": "chapters/weighting#min-snr",
    "SAMPLING_SKIPS_LAST_STEP": "chapters/endpoints_and_sampling#where-the-sampler-starts-leading-trailing-and-linspace",
    "FLOAT_SIGMA_MAX_CANCELLATION": "chapters/endpoints_and_sampling#the-karras-sigma-grid-on-the-log-snr-axis",
    "BETA_END_TOO_SMALL": "chapters/classic_schedules#quadratic-two-formulas-under-one-name",
    "LINEAR_NAMING_TRAP": "chapters/classic_schedules#quadratic-two-formulas-under-one-name",
    "BETA_OUT_OF_RANGE": "chapters/snr#log-snr-decreases-a-theorem-in-discrete-time",
    "LOG_SNR_NON_MONOTONE": "chapters/snr#log-snr-decreases-a-theorem-in-discrete-time",
    "RESOLUTION_SHIFT_MISMATCH": "chapters/resolution#three-published-shifts-are-one-operation",
}
FINDING_CODES = tuple(_CH)


class AuditError(ValueError):
    """Bad audit input: the message is one line naming the field and what is allowed."""


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    numbers: dict
    chapter: str

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "numbers": {k: _num(v) for k, v in self.numbers.items()}, "chapter": self.chapter}


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`audit`; ``to_dict()`` gives the stable JSON form (module docstring)."""

    schedule: dict
    terminal_snr: float | None
    terminal_log_snr: float | None
    sqrt_alpha_bar_T: float | None
    log_snr_range: tuple | None
    training_log_snr: tuple | None
    sampling: dict
    weighting: dict
    recipe: dict
    assumptions: tuple
    ignored_fields: tuple
    findings: tuple = field(default_factory=tuple)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_dict(self) -> dict:
        return _jsonable({
            "schema_version": SCHEMA_VERSION, "schedule": self.schedule, "terminal_snr": self.terminal_snr,
            "terminal_log_snr": self.terminal_log_snr, "sqrt_alpha_bar_T": self.sqrt_alpha_bar_T,
            "log_snr_range": None if self.log_snr_range is None else list(self.log_snr_range),
            "training_log_snr": None if self.training_log_snr is None else list(self.training_log_snr),
            "sampling": self.sampling, "weighting": self.weighting, "recipe": self.recipe,
            "assumptions": list(self.assumptions), "ignored_fields": list(self.ignored_fields),
            "findings": [f.to_dict() for f in self.findings]})

    def to_text(self) -> str:
        s = self.schedule
        lines = [f"schedule: {s['name']} ({s['kind']}), T={s['num_train_timesteps']}, "
                 f"prediction={s['prediction_type']}"]
        if self.terminal_snr is not None:
            lo, hi = self.log_snr_range
            lines += [f"terminal SNR: {self.terminal_snr:.4g} (sqrt(alpha_bar_T) = {self.sqrt_alpha_bar_T:.4g})",
                      f"log-SNR range: [{lo:.4g}, {hi:.4g}]"]
        sm = self.sampling
        if sm.get("log_snr"):
            lam = sm["log_snr"]
            lines.append(f"sampling: {sm['steps']} steps, {sm['spacing']} spacing, {sm['dtype']}; "
                         f"log-SNR {lam[0]:.4g} -> {lam[-1]:.4g}")
        w = self.weighting
        if w.get("x0_weight_mass_log_snr"):
            q1, q2, q3 = w["x0_weight_mass_log_snr"]
            lines.append(f"weighting: {w['name']} in the {w['frame']} frame, density {w['density']}; effective "
                         f"x0-frame weight mass quartiles at log-SNR {q1:.3g}, {q2:.3g}, {q3:.3g}")
        for a in self.assumptions:
            lines.append(f"assumed: {a}")
        lines.append(f"findings: {len(self.findings)}")
        for f in self.findings:
            nums = ", ".join(f"{k}={_fmt(v)}" for k, v in f.numbers.items())
            lines.append(f"  [{f.severity}] {f.code}: {f.message} ({nums}) -> {f.chapter}")
        return "\n".join(lines)


def _num(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return "inf" if v == math.inf else "-inf" if v == -math.inf else v
    return v


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in x]
    return _num(x)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------

def _err(name, msg):
    raise AuditError(f"{name}: {msg}")


def _real(cfg, name, default, low=None, low_open=False):
    v = cfg.get(name, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        _err(name, f"must be a finite number, got {v!r}")
    if low is not None and (v <= low if low_open else v < low):
        _err(name, f"must be {'>' if low_open else '>='} {low:g}, got {v!r}")
    return float(v)


def _int(cfg, name, default, minimum):
    v = cfg.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        _err(name, f"must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _bool(cfg, name, default):
    v = cfg.get(name, default)
    if not isinstance(v, bool):
        _err(name, f"must be true or false, got {v!r}")
    return v


def _choice(cfg, name, default, allowed):
    v = cfg.get(name, default)
    if v not in allowed:
        _err(name, f"unknown value {v!r}; allowed: {', '.join(map(str, allowed))}")
    return v


def _vector(cfg, name):
    v = cfg[name]
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        _err(name, "must be a list of numbers")
    if a.ndim != 1 or a.size < 2 or not np.isfinite(a).all():
        _err(name, f"must be a list of at least 2 finite numbers, got shape {a.shape}")
    return a


# --------------------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------------------

def audit(config: dict, **options) -> AuditReport:
    """Audit ``config`` (a diffusers scheduler config, plus recipe fields) and return an :class:`AuditReport`.

    ``options`` are recipe (or scheduler) fields that override the config's keys (module docstring).
    """
    if not isinstance(config, dict):
        raise AuditError(f"config: must be a JSON object (dict), got {type(config).__name__}")
    # diffusers writes null for an unset field; an option of None means "not given"
    cfg = {k: v for k, v in {**config, **{k: v for k, v in options.items() if v is not None}}.items()
           if v is not None}
    known = set(SCHEDULER_FIELDS) | set(RECIPE_FIELDS) | set(IGNORED_FIELDS)
    unknown = sorted(k for k in cfg if k not in known and not str(k).startswith("_"))
    if unknown:
        raise AuditError(f"{unknown[0]}: unknown field; allowed: {', '.join(SCHEDULER_FIELDS + RECIPE_FIELDS)} "
                         f"(and ignored diffusers fields: {', '.join(IGNORED_FIELDS[:6])}, ...)")
    ignored = sorted(k for k in cfg if k in IGNORED_FIELDS or str(k).startswith("_"))
    findings: list[Finding] = []
    assumptions: list[str] = []

    def add(code, severity, message, **numbers):
        findings.append(Finding(code, severity, message, numbers, _CH[code]))

    # ---- schedule ----
    T = _int(cfg, "num_train_timesteps", 1000, 2)
    flow = str(cfg.get("_class_name", "")).startswith("FlowMatch") or cfg.get("prediction_type") == "flow"
    sources = [k for k in ("beta_schedule", "trained_betas", "schedule", "alphas_cumprod") if k in cfg]
    if len(sources) > 1:
        raise AuditError(f"{sources[1]}: contradicts {sources[0]}; give only one of beta_schedule, trained_betas, "
                         "schedule, alphas_cumprod")
    if flow and sources:
        raise AuditError(f"{sources[0]}: a flow-matching config (FlowMatch* or prediction_type 'flow') takes "
                         "shift, not a beta schedule")
    if not flow and not sources and "shift" in cfg:
        flow = True
    if not flow and not sources:
        sources = ["beta_schedule"]
        assumptions.append("beta_schedule 'linear' (the diffusers default)")
    zero_snr = _bool(cfg, "rescale_betas_zero_snr", False)
    pred = _choice(cfg, "prediction_type", "flow" if flow else "epsilon", PREDICTION_TYPES)
    if flow and pred != "flow":
        raise AuditError(f"prediction_type: a flow-matching config predicts 'flow', got {pred!r}")
    if not flow and pred == "flow":
        raise AuditError("prediction_type: 'flow' needs a FlowMatch* scheduler (with shift), not a beta schedule")
    if not flow and ("shift" in cfg or "use_dynamic_shifting" in cfg):
        raise AuditError("shift: only flow-matching (FlowMatch*) schedulers take shift/use_dynamic_shifting")
    if flow and zero_snr:
        raise AuditError("rescale_betas_zero_snr: not a flow-matching field (rectified flow already ends at SNR 0)")
    name, params, betas_raw = None, {}, None
    if flow:
        shift = _real(cfg, "shift", 1.0, low=0, low_open=True)
        dyn = _bool(cfg, "use_dynamic_shifting", False)
        name, params = "rectified_flow", {"shift": shift}
        if dyn:
            assumptions.append("use_dynamic_shifting: the sampling shift depends on the image size; "
                               "the training grid uses shift as given")
    elif sources[0] == "beta_schedule":
        bs = _choice(cfg, "beta_schedule", "linear", tuple(DIFFUSERS_BETA_SCHEDULES))
        name = DIFFUSERS_BETA_SCHEDULES[bs]
        if name != "cosine":
            params = {"beta_min": _real(cfg, "beta_start", 1e-4, low=0, low_open=True),
                      "beta_max": _real(cfg, "beta_end", 0.02, low=0, low_open=True)}
        elif "beta_start" in cfg or "beta_end" in cfg:
            assumptions.append("beta_start/beta_end are not used by squaredcos_cap_v2")
    elif sources[0] == "schedule":
        name = _choice(cfg, "schedule", None, tuple(list_schedules()))
        params = cfg.get("schedule_params", {})
        if not isinstance(params, dict):
            _err("schedule_params", "must be an object of the schedule's parameters")
    elif sources[0] == "trained_betas":
        betas_raw = _vector(cfg, "trained_betas")
        name = "trained_betas"
    else:
        ab = _vector(cfg, "alphas_cumprod")
        name = "alphas_cumprod"
        prev = np.concatenate([[1.0], ab[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            betas_raw = 1.0 - ab / prev
    if "schedule_params" in cfg and sources[0] != "schedule":
        _err("schedule_params", "needs schedule (a sched_lib schedule name)")
    if betas_raw is not None:
        if "num_train_timesteps" in cfg and cfg["num_train_timesteps"] != betas_raw.size:
            _err("num_train_timesteps", f"is {T} but {name} has {betas_raw.size} values")
        T = int(betas_raw.size)

    schedule_info = {"kind": "flow_matching" if flow else "beta_chain", "name": name, "params": dict(params),
                     "num_train_timesteps": T, "prediction_type": pred, "zero_terminal_snr_rescaled": zero_snr}
    recipe = _recipe(cfg, pred, T, flow, assumptions)

    # ---- broken chains: report, do not build ----
    if betas_raw is not None:
        bad = np.flatnonzero((betas_raw <= 0) | (betas_raw > 1) | (np.arange(T) < T - 1) & (betas_raw == 1))
        if bad.size:
            i = int(bad[0])
            if name == "alphas_cumprod":
                add("LOG_SNR_NON_MONOTONE", "error", "alphas_cumprod does not decrease strictly, so log-SNR is "
                    "not strictly decreasing in t.", first_bad_step=i + 1, count=int(bad.size),
                    implied_beta=float(betas_raw[i]))
            else:
                add("BETA_OUT_OF_RANGE", "error", "Some beta_t lie outside (0, 1] (or equal 1 before t = T), so "
                    "log-SNR is not strictly decreasing.", first_bad_step=i + 1, count=int(bad.size),
                    beta=float(betas_raw[i]))
            return AuditReport(schedule_info, None, None, None, None, None, {}, {}, recipe, tuple(assumptions),
                               tuple(ignored), tuple(findings))
    try:
        if betas_raw is not None:
            from .schedules import Schedule
            sched = Schedule.from_betas(betas_raw, name=name)
            if zero_snr:
                from .schedules import rescale_zero_terminal_snr
                sched = Schedule.from_betas(rescale_zero_terminal_snr(sched.betas), name=name)
        else:
            sched = get_schedule(name, T, **params, **({"zero_terminal_snr": True} if zero_snr else {}))
    except ValueError as e:
        field_name = sources[0] if sources else "shift"
        raise AuditError(f"{field_name}: cannot build the schedule: {e}") from None
    q = get_schedule_quantities(sched)
    lam = q.log_snr
    snr_T = float(q.snr[-1])
    sab_T = float(q.sqrt_alpha_bar[-1])

    # ---- sampling grid ----
    N, spacing, dtype = recipe["sampler_steps"], recipe["sampler_spacing"], recipe["sampler_dtype"]
    if N > T:
        _err("sampler_steps", f"must be <= num_train_timesteps ({T}), got {N}")
    if flow:
        # diffusers FlowMatchEulerDiscreteScheduler.set_timesteps (static shift): t from σ_max = 1 to the
        # shifted σ_min = shift(1/T), linearly, then shifted again; the timesteps are σ·T (floats).
        sh = params["shift"]
        t_grid = np.linspace(1.0, float(sd3_time_shift(1.0 / T, sh)), N)
        ts = sd3_time_shift(t_grid, sh) * T
        lam_s = rectified_flow_log_snr(t_grid, sh)
        sigma_max = math.inf
        assumptions.append("flow-matching sampler grid as diffusers FlowMatchEulerDiscreteScheduler (static shift)")
    else:
        offset = _int(cfg, "steps_offset", 0, 0)
        try:
            ts = timesteps(T, N, spacing, offset if spacing == "leading" else 0)
        except ValueError as e:
            raise AuditError(f"steps_offset: {e}") from None
        lam_s = lam[ts]
        sigma_max = float(q.sigma[ts[0]])
    sampling = {"steps": N, "spacing": spacing, "dtype": dtype, "timesteps": ts.tolist(),
                "log_snr": lam_s.tolist(), "sigma_max": sigma_max}

    # ---- weighting ----
    wname, frame, gamma = recipe["weighting"], recipe["weighting_frame"], recipe["snr_gamma"]
    weighting = {"name": wname, "frame": frame, "params": {}, "x0_weight_mass_log_snr": None}
    snr = q.snr
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if wname == "min_snr":
            weighting["params"] = {"gamma": gamma, "variant": recipe["min_snr_variant"]}
            w_x0 = min_snr_weight(snr, gamma, "x0")
        elif wname == "p2":
            weighting["params"] = {"k": recipe["p2_k"], "gamma": recipe["p2_gamma"]}
            w_x0 = p2_weight(snr, recipe["p2_k"], recipe["p2_gamma"], "x0")
        elif wname == "edm":  # Karras et al. 2022, Table 1: λ(σ) = (σ² + σ_d²)/(σ σ_d)² on the x₀ error
            sd = recipe["sigma_data"]
            weighting["params"] = {"sigma_data": sd}
            w_x0 = 1.0 / sd ** 2 + snr
        elif wname == "vlb":
            w_x0 = vlb_weight(q) * snr  # eps-frame weight × f_eps = SNR
        else:
            w_x0 = uniform_weight(snr, frame) * {"eps": snr, "x0": np.ones_like(snr), "v": 1.0 + snr}[frame]
    dname, dparams = recipe["training_density"], recipe["density_params"]
    weighting["density"], weighting["density_params"] = dname, dparams
    finite = np.isfinite(w_x0) & np.isfinite(lam)
    mass = np.where(finite, w_x0, 0.0)
    if dname != "uniform":  # mass per step = w(λ)·p(λ)·|Δλ| on the training grid
        dens = DENSITIES[dname](**dparams)
        lam_f = np.where(finite, lam, 0.0)
        dl = np.abs(np.gradient(lam_f)) if lam.size > 1 else np.ones(1)
        mass = np.where(finite, mass * dens.log_snr_density(lam_f) * dl, 0.0)
    if finite.sum() >= 2 and mass.sum() > 0:
        c = np.cumsum(mass[finite]) / mass[finite].sum()
        weighting["x0_weight_mass_log_snr"] = [float(lam[finite][np.searchsorted(c, p)]) for p in (0.25, 0.5, 0.75)]

    # ---- findings ----
    if snr_T > 0 and recipe["sample_from_pure_noise"]:
        add("TERMINAL_SNR_NONZERO", "warning" if sab_T >= 0.01 else "info",
            "The last training step keeps signal but sampling starts from pure noise, so the model never sees "
            "its starting distribution and the mean brightness leaks (fraction sqrt(alpha_bar_T)).",
            terminal_snr=snr_T, leaked_mean_fraction=sab_T, terminal_log_snr=float(lam[-1]))
    if snr_T == 0 and pred == "epsilon":
        add("ZERO_TERMINAL_SNR_EPSILON", "error",
            "At zero terminal SNR an epsilon-prediction carries no information about x0 at t = T, and "
            "x0 = (x_T - sqrt(1-alpha_bar_T) eps)/sqrt(alpha_bar_T) divides by zero; use v-prediction.",
            terminal_snr=snr_T, sqrt_alpha_bar_T=sab_T)
    if wname == "min_snr":
        n_zero = int((snr == 0).sum())
        if n_zero and frame == "eps":
            add("MIN_SNR_ZERO_SNR", "error",
                "Min-SNR's epsilon-frame weight min(SNR, gamma)/SNR is 0/0 at SNR = 0, giving NaN losses.",
                steps_with_zero_snr=n_zero, gamma=gamma, first_zero_step=int(np.flatnonzero(snr == 0)[0]) + 1)
        if recipe["min_snr_variant"] == "snr_plus_one":
            shipped = np.minimum(snr + 1.0, gamma) / (snr + 1.0)
            paper = min_snr_weight(snr, gamma, "v")
            diff = np.abs(shipped - paper)
            i = int(np.argmax(diff))
            add("MIN_SNR_V_CLAMP", "warning",
                "The v-form min(SNR + 1, gamma)/(SNR + 1) is not Min-SNR (min(SNR, gamma)/(SNR + 1)); it "
                "over-weights the noisiest steps (diffusers #5654).",
                gamma=gamma, max_weight_error=float(diff[i]), at_step=i + 1, at_snr=float(snr[i]),
                shipped_weight=float(shipped[i]), paper_weight=float(paper[i]))
    if not flow and int(ts[0]) < T - 1:
        add("SAMPLING_SKIPS_LAST_STEP", "warning",
            "The sampling grid starts below the last training step, so sampling from pure noise begins at a "
            "noise level with more signal than the noise it is given.",
            first_timestep=int(ts[0]), last_train_timestep=T - 1, skipped_steps=T - 1 - int(ts[0]),
            snr_at_first_step=float(snr[ts[0]]), terminal_snr=snr_T)
    thresh = SIGMA_MAX_FLOAT32 * _EPS["float32"] / _EPS[dtype]
    if math.isfinite(sigma_max) and sigma_max > thresh:
        add("FLOAT_SIGMA_MAX_CANCELLATION", "warning",
            f"At the sampler's first step sigma = sqrt((1-alpha_bar)/alpha_bar) is large enough that "
            f"x0 = sqrt(1+sigma^2) x - sigma eps loses precision to cancellation in {dtype}.",
            sigma_max=sigma_max, threshold=thresh, abs_error_estimate=sigma_max * _EPS[dtype])
    if not flow and (name in ("linear", "scaled_linear", "quad", "quadratic", "beta_sigmoid")
                     or name == "trained_betas") and sab_T > 0.1:
        add("BETA_END_TOO_SMALL", "error",
            "beta_T is implausibly small: the chain keeps over 10% of the signal at t = T, the mark of "
            "betas squared twice or a '(linear)' schedule given sqrt(beta) ends.",
            beta_T=float(q.betas[-1]), sqrt_alpha_bar_T=sab_T, terminal_snr=snr_T)
    if cfg.get("beta_schedule") == "linear" and params.get("beta_min") == 0.00085 and params.get("beta_max") == 0.012:
        other = get_schedule_quantities(get_schedule("scaled_linear", T))
        add("LINEAR_NAMING_TRAP", "warning",
            "beta_start 0.00085 / beta_end 0.012 are Stable Diffusion's, whose LDM 'linear' is linear in "
            "sqrt(beta) (diffusers 'scaled_linear'); diffusers 'linear' is a different schedule.",
            terminal_snr=snr_T, terminal_snr_scaled_linear=float(other.snr[-1]))
    s_tr, s_sa = recipe["train_resolution_shift"], recipe["sample_resolution_shift"]
    if s_tr is not None and s_sa is not None and s_tr != s_sa:
        add("RESOLUTION_SHIFT_MISMATCH", "warning",
            "The resolution shift at sampling differs from training, so the sampler visits log-SNR values "
            "offset by -2 log(s_sample/s_train) from what the model was trained on.",
            train_shift=s_tr, sample_shift=s_sa, log_snr_offset=-2.0 * math.log(s_sa / s_tr))

    return AuditReport(schedule_info, snr_T, float(lam[-1]), sab_T, (float(lam[-1]), float(lam[0])),
                       tuple(float(v) for v in lam), sampling,
                       weighting, recipe, tuple(assumptions), tuple(ignored), tuple(findings))


def _recipe(cfg, pred, T, flow, assumptions) -> dict:
    r = {}
    r["training_density"] = _choice(cfg, "training_density", "uniform", tuple(DENSITIES))
    dp = cfg.get("density_params", {})
    if not isinstance(dp, dict):
        _err("density_params", "must be an object")
    if dp and r["training_density"] == "uniform":
        _err("density_params", "only applies to training_density 'log_normal' or 'logit_normal'")
    if r["training_density"] == "logit_normal" and not flow:
        _err("training_density", "'logit_normal' is defined for flow matching (rectified flow); allowed here: "
             "uniform, log_normal")
    if r["training_density"] != "uniform":
        cls = DENSITIES[r["training_density"]]
        allowed = [f for f in cls.__dataclass_fields__]
        bad = sorted(set(dp) - set(allowed))
        if bad:
            _err("density_params", f"unknown parameter {bad[0]!r}; allowed: {', '.join(allowed)}")
        try:
            cls(**dp)
        except ValueError as e:
            _err("density_params", str(e))
    r["density_params"] = dict(dp)
    r["weighting"] = _choice(cfg, "weighting", "uniform", WEIGHTINGS)
    default_frame = {"epsilon": "eps", "v_prediction": "v", "sample": "x0", "flow": "v"}[pred]
    r["weighting_frame"] = _choice(cfg, "weighting_frame", default_frame, FRAMES)
    for k in ("snr_gamma", "min_snr_variant"):
        if k in cfg and r["weighting"] != "min_snr":
            _err(k, f"only applies to weighting 'min_snr', got weighting {r['weighting']!r}")
    for k in ("p2_k", "p2_gamma"):
        if k in cfg and r["weighting"] != "p2":
            _err(k, f"only applies to weighting 'p2', got weighting {r['weighting']!r}")
    if "sigma_data" in cfg and r["weighting"] != "edm":
        _err("sigma_data", f"only applies to weighting 'edm', got weighting {r['weighting']!r}")
    r["snr_gamma"] = _real(cfg, "snr_gamma", 5.0, low=0, low_open=True)
    r["min_snr_variant"] = _choice(cfg, "min_snr_variant", "paper", MIN_SNR_VARIANTS)
    if r["min_snr_variant"] == "snr_plus_one" and r["weighting_frame"] != "v":
        _err("min_snr_variant", "'snr_plus_one' is the v-frame form; it needs weighting_frame 'v'")
    r["p2_k"] = _real(cfg, "p2_k", 1.0, low=0, low_open=True)
    r["p2_gamma"] = _real(cfg, "p2_gamma", 1.0, low=0)
    r["sigma_data"] = _real(cfg, "sigma_data", 0.5, low=0, low_open=True)
    if "sampler_steps" not in cfg:
        assumptions.append("sampler_steps 50")
    r["sampler_steps"] = _int(cfg, "sampler_steps", 50, 1)
    default_spacing = cfg.get("timestep_spacing", "leading")
    _choice(cfg, "timestep_spacing", "leading", SPACINGS)
    r["sampler_spacing"] = _choice(cfg, "sampler_spacing", default_spacing, SPACINGS)
    if "sampler_dtype" not in cfg:
        assumptions.append("sampler_dtype float32")
    r["sampler_dtype"] = _choice(cfg, "sampler_dtype", "float32", tuple(DTYPES))
    r["sample_from_pure_noise"] = _bool(cfg, "sample_from_pure_noise", True)
    r["train_resolution_shift"] = _real(cfg, "train_resolution_shift", None, low=0, low_open=True)
    r["sample_resolution_shift"] = _real(cfg, "sample_resolution_shift", None, low=0, low_open=True)
    return r


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sched_lib.audit",
        description="Audit a diffusers scheduler config (plus training/sampling recipe) for noise-schedule "
                    "pitfalls. Prints a text report; exit status 0, or 2 on bad input.")
    p.add_argument("config", help="diffusers scheduler_config.json (recipe fields may be extra top-level keys)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON (schema in the module docstring)")
    p.add_argument("--plot", metavar="FILE.png", help="also write a figure of log-SNR over t with the sampling grid")
    p.add_argument("--prediction-type", choices=PREDICTION_TYPES, help="override prediction_type")
    p.add_argument("--training-density", choices=tuple(DENSITIES),
                   help="training noise-level density: uniform t (default), log_normal sigma (EDM), logit_normal t "
                        "(SD3; parameters via density_params in the config)")
    p.add_argument("--weighting", choices=WEIGHTINGS, help="loss weighting (default uniform)")
    p.add_argument("--snr-gamma", type=float, help="Min-SNR gamma (default 5)")
    p.add_argument("--weighting-frame", choices=FRAMES, help="frame of the loss (default: the prediction's)")
    p.add_argument("--min-snr-variant", choices=MIN_SNR_VARIANTS,
                   help="paper: min(SNR, gamma); snr_plus_one: diffusers' pre-#5654 v-form")
    p.add_argument("--p2-k", type=float, help="P2 k (default 1)")
    p.add_argument("--p2-gamma", type=float, help="P2 gamma (default 1)")
    p.add_argument("--sigma-data", type=float, help="EDM sigma_data (default 0.5)")
    p.add_argument("--sampler-steps", type=int, help="number of sampling steps (default 50)")
    p.add_argument("--sampler-spacing", choices=SPACINGS, help="sampling grid spacing (default timestep_spacing)")
    p.add_argument("--sampler-dtype", choices=tuple(DTYPES), help="dtype the sampler runs in (default float32)")
    p.add_argument("--no-pure-noise", action="store_true",
                   help="sampling does not start from pure noise (e.g. img2img), so a non-zero terminal SNR is fine")
    p.add_argument("--train-resolution-shift", type=float, help="SD3 time-shift factor used in training (1 = none)")
    p.add_argument("--sample-resolution-shift", type=float, help="SD3 time-shift factor used at sampling (1 = none)")
    return p


def _plot(report: AuditReport, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sm = report.sampling
    T = report.schedule["num_train_timesteps"]
    if report.training_log_snr is not None:
        lam_t = np.array(report.training_log_snr, dtype=float)
        ax.plot(np.arange(1, T + 1), lam_t, lw=1.5, label="training λ_t")
    if sm.get("log_snr"):
        lam = np.array(sm["log_snr"], dtype=float)
        ax.plot(np.array(sm["timesteps"]) + 1, lam, "o", ms=3, label="sampling grid")
    ax.axvline(T, color="grey", lw=0.8, ls=":", label="t = T")
    ax.set_xlabel("training step t")
    ax.set_ylabel("log-SNR λ")
    ax.set_title(f"{report.schedule['name']}: {len(report.findings)} finding(s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        try:
            with open(args.config, encoding="utf-8") as fh:
                config = json.load(fh)
        except (OSError, json.JSONDecodeError) as e:
            raise AuditError(f"config: cannot read {args.config!r} as JSON ({e})") from None
        opts = {"training_density": args.training_density, "prediction_type": args.prediction_type, "weighting": args.weighting, "snr_gamma": args.snr_gamma,
                "weighting_frame": args.weighting_frame, "min_snr_variant": args.min_snr_variant,
                "p2_k": args.p2_k, "p2_gamma": args.p2_gamma, "sigma_data": args.sigma_data,
                "sampler_steps": args.sampler_steps, "sampler_spacing": args.sampler_spacing,
                "sampler_dtype": args.sampler_dtype, "train_resolution_shift": args.train_resolution_shift,
                "sample_resolution_shift": args.sample_resolution_shift}
        if args.no_pure_noise:
            opts["sample_from_pure_noise"] = False
        if isinstance(config, dict):
            config = {k: v for k, v in config.items() if k != "_source"}
        report = audit(config, **opts)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.to_text())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=2, allow_nan=False)
    if args.plot:
        _plot(report, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
