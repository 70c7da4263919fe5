"""Tests for sched_lib.audit: each finding is raised on a minimal broken config and not on a clean one."""

import json
import math
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

from sched_lib.audit import FINDING_CODES, AuditError, audit, main
from sched_lib.quantities import get_schedule_quantities
from sched_lib.schedules import get_schedule

# A clean recipe: zero terminal SNR, v-prediction, trailing grid, float32, paper Min-SNR in the v frame.
CLEAN = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000,
         "rescale_betas_zero_snr": True, "prediction_type": "v_prediction", "timestep_spacing": "trailing",
         "weighting": "min_snr", "snr_gamma": 5.0, "sampler_steps": 50, "sampler_dtype": "float32"}


def fixture(name):
    return json.loads(resources.files("sched_lib").joinpath("audit_configs", name).read_text())


def finding(report, code):
    hits = [f for f in report.findings if f.code == code]
    assert len(hits) == 1, report.codes
    return hits[0]


def test_clean_recipe_has_no_findings():
    rep = audit(CLEAN)
    assert rep.findings == ()
    assert rep.terminal_snr == 0.0 and rep.log_snr_range[0] == -math.inf
    assert len(rep.training_log_snr) == 1000 and rep.to_dict()["training_log_snr"][-1] == "-inf"
    assert rep.sampling["timesteps"][0] == 999 and len(rep.sampling["log_snr"]) == 50


def test_every_finding_has_schema_keys_and_known_chapter():
    rep = audit({"beta_schedule": "linear", "beta_start": 0.00085, "beta_end": 0.012, "weighting": "min_snr"})
    for f in rep.to_dict()["findings"]:
        assert set(f) == {"code", "severity", "message", "numbers", "chapter"}
        assert f["code"] in FINDING_CODES and f["severity"] in ("error", "warning", "info")
        assert f["chapter"].startswith("chapters/")
    d = rep.to_dict()
    assert set(d) == {"schema_version", "schedule", "terminal_snr", "terminal_log_snr", "sqrt_alpha_bar_T",
                      "log_snr_range", "training_log_snr", "sampling", "weighting", "recipe", "assumptions", "ignored_fields",
                      "findings"}
    json.dumps(d, allow_nan=False)


def test_terminal_snr_nonzero_leak():
    rep = audit({**CLEAN, "rescale_betas_zero_snr": False})
    f = finding(rep, "TERMINAL_SNR_NONZERO")
    ab = get_schedule("scaled_linear", 1000).alpha_bar[-1]
    assert f.numbers["leaked_mean_fraction"] == pytest.approx(math.sqrt(ab), rel=1e-12)
    assert "TERMINAL_SNR_NONZERO" not in audit({**CLEAN, "rescale_betas_zero_snr": False},
                                               sample_from_pure_noise=False).codes


def test_sd15_terminal_snr_matches_lin_et_al():
    # Lin et al. 2024, Table 1: SD's terminal SNR 0.0047, given to 2 significant digits, so the true value
    # lies within half a unit of the last digit: |x - 0.0047| <= 0.00005.
    rep = audit(fixture("sd15.json"))
    assert abs(rep.terminal_snr - 0.0047) <= 0.5e-4
    assert rep.terminal_snr == pytest.approx(get_schedule_quantities(get_schedule("scaled_linear", 1000)).snr[-1])


def test_zero_terminal_snr_with_epsilon():
    eps = {k: v for k, v in CLEAN.items() if k not in ("weighting", "snr_gamma")}
    f = finding(audit({**eps, "prediction_type": "epsilon"}), "ZERO_TERMINAL_SNR_EPSILON")
    assert f.numbers["terminal_snr"] == 0.0
    assert "ZERO_TERMINAL_SNR_EPSILON" not in audit(CLEAN).codes


def test_min_snr_zero_snr_eps_frame():
    rep = audit({**CLEAN, "prediction_type": "epsilon"})
    f = finding(rep, "MIN_SNR_ZERO_SNR")
    assert f.numbers["steps_with_zero_snr"] == 1 and f.numbers["first_zero_step"] == 1000
    assert "MIN_SNR_ZERO_SNR" not in audit(CLEAN).codes  # v frame: min(0, γ)/(0 + 1) = 0 is finite


def test_min_snr_v_clamp():
    f = finding(audit({**CLEAN, "min_snr_variant": "snr_plus_one"}), "MIN_SNR_V_CLAMP")
    # at SNR = 0 the shipped form gives min(1, 5)/1 = 1 where the paper's gives 0
    assert f.numbers["max_weight_error"] == pytest.approx(1.0) and f.numbers["at_snr"] == 0.0
    assert "MIN_SNR_V_CLAMP" not in audit(CLEAN).codes


def test_sampling_skips_last_step():
    f = finding(audit({**CLEAN, "timestep_spacing": "leading", "steps_offset": 1}), "SAMPLING_SKIPS_LAST_STEP")
    assert f.numbers["first_timestep"] == 981 and f.numbers["skipped_steps"] == 18
    assert "SAMPLING_SKIPS_LAST_STEP" not in audit({**CLEAN, "timestep_spacing": "linspace"}).codes


def test_float_sigma_max_cancellation():
    cos = {"beta_schedule": "squaredcos_cap_v2", "prediction_type": "v_prediction", "timestep_spacing": "trailing"}
    f = finding(audit(cos), "FLOAT_SIGMA_MAX_CANCELLATION")
    q = get_schedule_quantities(get_schedule("cosine", 1000))
    assert f.numbers["sigma_max"] == pytest.approx(q.sigma[-1], rel=1e-12) and f.numbers["sigma_max"] > 1e4
    assert "FLOAT_SIGMA_MAX_CANCELLATION" not in audit(cos, sampler_dtype="float64").codes
    assert "FLOAT_SIGMA_MAX_CANCELLATION" in audit(fixture("ddpm_cifar10.json"), sampler_dtype="float16").codes
    assert "FLOAT_SIGMA_MAX_CANCELLATION" not in audit(fixture("ddpm_cifar10.json")).codes  # σ ≈ 130 in float32


def test_beta_end_too_small_naming_trap():
    # β_end squared twice: 0.02² = 4e-4 leaves most of the signal at t = T
    f = finding(audit({"beta_schedule": "linear", "beta_start": 1e-8, "beta_end": 4e-4}), "BETA_END_TOO_SMALL")
    assert f.numbers["beta_T"] == pytest.approx(4e-4) and f.numbers["sqrt_alpha_bar_T"] > 0.5
    assert "BETA_END_TOO_SMALL" not in audit(fixture("ddpm_cifar10.json")).codes


def test_linear_naming_trap_for_sd_values():
    f = finding(audit({"beta_schedule": "linear", "beta_start": 0.00085, "beta_end": 0.012}), "LINEAR_NAMING_TRAP")
    assert f.numbers["terminal_snr_scaled_linear"] == pytest.approx(audit(fixture("sd15.json")).terminal_snr)
    assert "LINEAR_NAMING_TRAP" not in audit(fixture("sd15.json")).codes


def test_beta_out_of_range_and_non_monotone_log_snr():
    betas = np.full(10, 0.1)
    betas[3] = -0.01
    rep = audit({"trained_betas": betas.tolist()})
    f = finding(rep, "BETA_OUT_OF_RANGE")
    assert f.numbers["first_bad_step"] == 4 and rep.terminal_snr is None
    ab = np.cumprod(1 - np.full(10, 0.1))
    ab[5] = ab[4]
    assert finding(audit({"alphas_cumprod": ab.tolist()}), "LOG_SNR_NON_MONOTONE").numbers["first_bad_step"] == 6
    good = audit({"trained_betas": np.full(10, 0.5).tolist(), "sampler_steps": 10, "timestep_spacing": "trailing"})
    assert not {"BETA_OUT_OF_RANGE", "LOG_SNR_NON_MONOTONE"} & set(good.codes)


def test_resolution_shift_mismatch():
    f = finding(audit(CLEAN, train_resolution_shift=1.0, sample_resolution_shift=3.0), "RESOLUTION_SHIFT_MISMATCH")
    assert f.numbers["log_snr_offset"] == pytest.approx(-2 * math.log(3.0))
    assert "RESOLUTION_SHIFT_MISMATCH" not in audit(CLEAN, train_resolution_shift=3.0,
                                                    sample_resolution_shift=3.0).codes


def test_fixtures_all_audit_and_name_a_source():
    names = [p.name for p in resources.files("sched_lib").joinpath("audit_configs").iterdir()]
    assert len(names) == 7
    for n in names:
        cfg = fixture(n)
        assert cfg["_source"]
        audit(cfg)
    assert audit(fixture("sd3.json")).findings == ()
    assert audit(fixture("sd21_v.json")).schedule["prediction_type"] == "v_prediction"


@pytest.mark.parametrize("cfg, field", [
    ({"beta_schedule": "linear", "bogus": 1}, "bogus"),
    ({"beta_schedule": "quadratic_oops"}, "beta_schedule"),
    ({"beta_schedule": "linear", "beta_start": 0.02, "beta_end": 0.01}, "beta_schedule"),
    ({"beta_schedule": "linear", "trained_betas": [0.1, 0.2]}, "trained_betas"),
    ({"beta_schedule": "linear", "weighting": "min_snr", "p2_k": 1.0}, "p2_k"),
    ({"beta_schedule": "linear", "weighting": "uniform", "snr_gamma": 5.0}, "snr_gamma"),
    ({"beta_schedule": "linear", "min_snr_variant": "snr_plus_one", "weighting": "min_snr"}, "min_snr_variant"),
    ({"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0, "rescale_betas_zero_snr": True},
     "rescale_betas_zero_snr"),
    ({"beta_schedule": "linear", "sampler_steps": 2000}, "sampler_steps"),
    ({"beta_schedule": "linear", "prediction_type": "x"}, "prediction_type"),
    ({"beta_schedule": "linear", "shift": 3.0}, "shift"),
])
def test_bad_input_is_one_line_error_naming_field(cfg, field):
    with pytest.raises(AuditError) as e:
        audit(cfg)
    assert str(e.value).startswith(field) and "\n" not in str(e.value)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "sched_lib.audit", *args], capture_output=True, text=True)


def test_cli_help_documents_every_flag():
    out = _cli("--help")
    assert out.returncode == 0
    for flag in ("--json", "--plot", "--weighting", "--snr-gamma", "--weighting-frame", "--min-snr-variant",
                 "--sampler-steps", "--sampler-spacing", "--training-density", "--sampler-dtype", "--no-pure-noise",
                 "--train-resolution-shift", "--sample-resolution-shift", "--prediction-type"):
        assert flag in out.stdout


def test_cli_json_and_bad_field(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(fixture("sd15.json")))
    out_json = tmp_path / "o.json"
    out = _cli(str(cfg), "--json", str(out_json))
    assert out.returncode == 0, out.stderr
    d = json.loads(out_json.read_text())
    assert d["schema_version"] == 1
    assert {f["code"] for f in d["findings"]} == {"TERMINAL_SNR_NONZERO", "SAMPLING_SKIPS_LAST_STEP"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"beta_schedule": "linear", "betas_typo": 1}))
    out = _cli(str(bad))
    assert out.returncode == 2 and "betas_typo" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_main_plot(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(CLEAN))
    png = tmp_path / "p.png"
    assert main([str(cfg), "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_grids_match_diffusers():
    # diffusers builds β and ᾱ in float32: about T·eps32 ≈ 1.2e-4 relative error in ᾱ after 1000 products,
    # so λ agrees to ~1e-4; 1e-3 leaves a factor of ~5 over that bound. The timestep grids are integers: exact.
    diffusers = pytest.importorskip("diffusers")
    for name in ("sd15.json", "ddpm_cifar10.json"):
        cfg = {k: v for k, v in fixture(name).items() if not k.startswith("_")}
        sch = diffusers.DDIMScheduler.from_config(cfg)
        sch.set_timesteps(50)
        rep = audit(cfg)
        ab = sch.alphas_cumprod.double().numpy()
        assert np.abs(np.log(ab / (1 - ab)) - np.array(rep.training_log_snr)).max() < 1e-3
        assert rep.sampling["timesteps"] == sch.timesteps.tolist()
    flow = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    flow.set_timesteps(50)
    rep = audit(fixture("sd3.json"))
    sig = flow.sigmas[:-1].double().numpy()  # float32 σ: compare in σ, to float32 rounding (~1e-7)
    ours = np.array(rep.sampling["timesteps"]) / 1000
    assert np.abs(ours - sig).max() < 1e-6


def test_effective_weight_mass_moves_with_density():
    # v-MSE with uniform t puts x₀-frame weight 1 + SNR on each step: its mass sits at high λ; an EDM
    # log-normal density with P_mean = 1 is centred at λ = −2·P_mean = −2 and pulls the median towards it.
    base = audit({**CLEAN, "weighting": "uniform", "snr_gamma": None, "prediction_type": "v_prediction"})
    edm = audit({**CLEAN, "weighting": "uniform", "snr_gamma": None, "training_density": "log_normal",
                 "density_params": {"p_mean": 1.0, "p_std": 0.5}})
    assert base.weighting["density"] == "uniform" and edm.weighting["density"] == "log_normal"
    assert abs(edm.weighting["x0_weight_mass_log_snr"][1] - (-2.0)) < abs(base.weighting["x0_weight_mass_log_snr"][1] - (-2.0))
    with pytest.raises(AuditError, match="^training_density"):
        audit({**CLEAN, "training_density": "logit_normal"})
    with pytest.raises(AuditError, match="^density_params"):
        audit({**CLEAN, "training_density": "log_normal", "density_params": {"mu": 1}})
    audit(fixture("sd3.json"), training_density="logit_normal")


def test_every_finding_links_to_a_section_of_the_book():
    """Each finding's chapter anchor is the id Sphinx gives one of that chapter's headings
    (docutils' make_id: lowercase, runs of other characters become one hyphen)."""
    import json
    import re
    from pathlib import Path

    from sched_lib.audit import FINDING_CODES, _CH

    root = Path(__file__).resolve().parent.parent
    for code in FINDING_CODES:
        page, anchor = _CH[code].split("#")
        cells = json.loads((root / f"{page}.ipynb").read_text())["cells"]
        headings = [line.lstrip("#").strip() for c in cells if c["cell_type"] == "markdown"
                    for line in "".join(c["source"]).splitlines() if line.startswith("#")]
        ids = {re.sub(r"[^a-z0-9]+", "-", h.lower()).strip("-") for h in headings}
        assert anchor in ids, (code, anchor)
