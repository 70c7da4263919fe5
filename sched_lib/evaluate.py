"""Score sampled images against CIFAR-10: ``python -m sched_lib.evaluate --samples s.npz --metric fd_randconv``.

Reads ``images`` (uint8 N×32×32×3) from a ``.npz`` written by :mod:`sched_lib.sample` (or any ``.npz``
with that array), loads the reference images with :func:`sched_lib.data.load_cifar10` (the test split
by default; ``$SCHED_LIB_DATA`` says where) and prints the metric under its honest name
(:func:`sched_lib.metrics.evaluate`; DESIGN.md, "Metrics"):

* ``fd_randconv``: the offline stand-in, the Fréchet distance in random-conv features. It is **not
  FID** and is never printed as FID;
* ``fid``: real FID from Inception-v3 features via the optional package torch-fidelity (needs its
  weights, i.e. internet once).

The value depends on the number of images (the Fréchet distance is biased upwards for small sets):
compare only numbers computed with the same sample and reference counts (``--num-reference``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .metrics import METRIC_LABELS, METRICS

__all__ = ["build_parser", "evaluate_file", "load_samples", "main"]

#: Reference splits of :func:`sched_lib.data.load_cifar10` that --reference-split accepts.
REFERENCE_SPLITS = ("test", "train", "train_10k")


def load_samples(path) -> tuple:
    """``(images, provenance dict or None)`` from a samples ``.npz`` (read with ``allow_pickle=False``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f.files:
                raise ValueError(f"{path} has no 'images' array (found {f.files}); write it with sched_lib.sample")
            images = f["images"]
            prov = json.loads(str(f["provenance"])) if "provenance" in f.files else None
    except (OSError, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npz file ({err})") from None
    return images, prov


def evaluate_file(samples_path, metric: str, *, reference_split: str = "test", num_reference: int | None = None,
                  **kwargs):
    """Score the images in ``samples_path`` against a CIFAR-10 split; returns a :class:`sched_lib.metrics.Score`.

    ``num_reference`` uses the first N reference images (default: all of the split). ``kwargs`` go to
    :func:`sched_lib.metrics.evaluate`.
    """
    from .data import load_cifar10
    from .metrics import evaluate

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid metrics are {METRICS}")
    if reference_split not in REFERENCE_SPLITS:
        raise ValueError(f"unknown reference_split {reference_split!r}; valid: {REFERENCE_SPLITS}")
    images, _ = load_samples(samples_path)
    reference = load_cifar10(reference_split).images
    if num_reference is not None:
        if isinstance(num_reference, bool) or not isinstance(num_reference, int) or not 2 <= num_reference <= len(reference):
            raise ValueError(f"num_reference must be an integer in [2, {len(reference)}], got {num_reference!r}")
        reference = reference[:num_reference]
    return evaluate(images, reference, metric=metric, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m sched_lib.evaluate`` argument parser."""
    labels = "; ".join(f"{m}: {METRIC_LABELS[m]}" for m in METRICS)
    p = argparse.ArgumentParser(
        prog="python -m sched_lib.evaluate",
        description="Score sampled images (an .npz with 'images', uint8 N×32×32×3) against the CIFAR-10 test set "
                    "and print the metric under its honest name. fd_randconv is an offline stand-in and is NOT FID.",
        epilog="example: python -m sched_lib.evaluate --samples a.npz --metric fd_randconv",
    )
    p.add_argument("--samples", required=True, metavar="FILE.npz", help="samples written by sched_lib.sample")
    p.add_argument("--metric", required=True, choices=METRICS, metavar="NAME", help=f"the metric ({labels})")
    p.add_argument("--reference-split", choices=REFERENCE_SPLITS, default="test",
                   help="CIFAR-10 split used as the reference (default test, 10,000 images)")
    p.add_argument("--num-reference", type=int, default=None, metavar="N",
                   help="use the first N reference images (default: the whole split)")
    p.add_argument("--json", metavar="FILE", default=None,
                   help="also write the score (metric, value, counts, label, samples file) as JSON to FILE")
    return p


def main(argv=None) -> int:
    """Command-line entry point: ``python -m sched_lib.evaluate --help``. Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        score = evaluate_file(args.samples, args.metric, reference_split=args.reference_split,
                              num_reference=args.num_reference)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    print(f"{score.label}: {score.value:.6g}")
    print(f"metric {score.metric}, {score.n_samples} samples vs {score.n_reference} CIFAR-10 "
          f"{args.reference_split} images")
    if args.json:
        record = {**score.as_dict(), "samples": str(Path(args.samples).resolve()),
                  "reference_split": args.reference_split}
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
