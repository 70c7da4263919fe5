"""sched_lib: noise schedules for diffusion models, the tested library behind the course
*Noise Schedules in Diffusion Models*.

Public API (each function's docstring cites its paper, equation and chapter):

``sched_lib.schedules``
    Continuous-time curves on t ∈ [0, 1]: ``cosine_alpha_bar``, ``cosine_log_snr`` (iDDPM, exact),
    ``chen_sigmoid_alpha_bar``, ``chen_cosine_alpha_bar`` (Chen 2023, Alg. 1), ``logistic_log_snr``
    (linear log-SNR), ``shifted_cosine_log_snr`` (simple diffusion), ``sd3_time_shift``,
    ``rectified_flow_log_snr``, ``laplace_log_snr`` (Hang et al. 2024), ``interpolated_cosine_log_snr``
    (simple diffusion); conversions ``alpha_bar_from_log_snr``, ``log_snr_from_alpha_bar``.
    Discrete chains: ``linear_betas``, ``sqrt_linear_betas``, ``quadratic_betas``, ``beta_sigmoid_betas``,
    ``betas_for_alpha_bar``, ``betas_from_alpha_bar``, ``alpha_bar_from_betas``, ``validate_betas``,
    ``rescale_zero_terminal_snr`` (Lin et al. 2024, Alg. 1).
    Registry: ``get_schedule(name, T, **params) -> Schedule``, ``list_schedules()``, ``schedule_params(name)``.
``sched_lib.quantities``
    ``get_schedule_quantities(schedule) -> ScheduleQuantities`` (ᾱ, SNR, λ, posterior variance, ...);
    ``mean_component_snr`` (the image mean's SNR, with offset noise).
``sched_lib.weighting``
    Loss weights of SNR in the ε, x₀ and v frames: ``uniform_weight``, ``min_snr_weight``, ``p2_weight``,
    ``convert_weight``, ``get_weighting``, ``list_weightings``; the VLB weight ``vlb_weight``,
    ``vlb_weight_from_snr``, ``vlb_constant_term``; training densities ``UniformTime``, ``EDMLogNormal``,
    ``LogitNormalTime``, ``LaplaceLogSNR`` (``sample``, ``sample_log_snr``, ``log_snr_density``),
    ``sd3_shifted_logit_normal``; Kingma & Gao's monotone ``sigmoid_weight``.
``sched_lib.elbo``
    Weighted losses as ELBOs of noise-augmented data (Kingma & Gao 2023), exact for Gaussian data:
    ``gaussian_eps_mse``, ``gaussian_x0_mse``, ``gaussian_augmented_kl``, ``gaussian_loss_second_moment``;
    EDM2's optimal log-variance ``edm2_optimal_log_variance``.
``sched_lib.samplers``
    Sampling grids: ``timesteps(T, N, spacing)`` (diffusers' leading/trailing/linspace), ``karras_sigmas``;
    solvers with one signature: ``sample(name, model_fn, process, shape, steps=...)`` for DDPM, DDIM(η),
    Euler and Heun, and their per-step coefficients ``ddpm_coefficients``, ``ddim_coefficients``.

The lab engine (torch; imported on demand, not by ``import sched_lib``):

``sched_lib.process``
    ``Process(schedule)``: q(x_t|x₀), the posterior, ε/x₀/v conversions; ``training_loss``;
    ``UniformSampler``, ``LossSecondMomentSampler`` (importance-sampled VLB).
``sched_lib.gaussian``
    Exact results for Gaussian data: ``fit_gaussian``, ``optimal_denoiser``, ``sampler_output_distribution``,
    ``kl_to_data``, ``w2_to_data``.
``sched_lib.data``, ``sched_lib.metrics``
    ``load_cifar10`` (checksummed), ``load_sample_images``, ``toy_2d``; ``frechet_distance``, ``evaluate``
    (FID via torch-fidelity where available, else the offline stand-in ``fd_randconv``, never called FID).
``sched_lib.likelihood``
    Bits/dim from the VLB: ``bits_per_dim`` (all T terms or a stratified estimate), ``run_bits_per_dim``.
``sched_lib.nets``, ``sched_lib.presets``, ``sched_lib.train``, ``sched_lib.sample``, ``sched_lib.evaluate``
    The U-Net, the smoke/cpu/gpu presets, training with exact resume and DDP, and the three command lines
    ``python -m sched_lib.train | sample | evaluate`` (``--help`` documents every flag).
``sched_lib.plotting``, ``sched_lib.widgets``
    Figure helpers and the ipywidgets schedule explorer of the labs.
``sched_lib.checks``, ``sched_lib.notebook``, ``sched_lib.provenance``
    Exercise auto-checks (one module per chapter), ``glue`` for the notebooks, ``provenance_line``.

Conventions: float64 NumPy in and out; t = 0 is data and t = T (or 1) is noise; arrays indexed by step
start at t = 1; log is natural. Bad input raises ``ValueError`` naming the argument and what is allowed.
"""

__version__ = "0.1.0"

from . import quantities, samplers, schedules, weighting  # noqa: E402,F401
from .quantities import ScheduleQuantities, get_schedule_quantities  # noqa: E402,F401
from .schedules import Schedule, get_schedule, list_schedules, schedule_params  # noqa: E402,F401
