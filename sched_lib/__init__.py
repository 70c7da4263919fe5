"""sched_lib: noise schedules for diffusion models (placeholder, filled in by issue 2)."""
__version__ = "0.1.0"
