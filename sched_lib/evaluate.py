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
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from .metrics import METRIC_LABELS, METRICS

__all__ = ["build_parser", "check_output_file", "evaluate_file", "load_samples", "main"]

#: Reference splits of :func:`sched_lib.data.load_cifar10` that --reference-split accepts.
REFERENCE_SPLITS = ("test", "train", "train_10k")


def check_output_file(path, flag: str) -> Path:
    """Create ``path``'s parent folders and check a file can be written there; else a one-line ValueError.

    Called before the work (sampling, scoring) so that a bad output path never costs the computed result.
    """
    if not str(path).strip():
        raise ValueError(f"{flag} must name a file, got {str(path)!r}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a directory; name a file")
    parent = path.parent
    for p in [parent, *parent.parents]:
        if p.exists():
            if not p.is_dir():
                raise ValueError(f"{flag} {path}: {p} is a file, not a folder; choose another {flag}")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{flag} {path}: cannot create the folder {parent} ({err.strerror}); "
                         f"choose another {flag}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: the folder {parent} is not writable; choose another {flag}")
    try:  # os.access says yes to root even on a read-only file system: try a real (empty) file there
        probe = parent / f".{path.name}.{os.getpid()}.probe"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise ValueError(f"{flag} {path}: cannot write in the folder {parent} ({err.strerror or err}); "
                         f"choose another {flag}") from None
    return path


def load_samples(path) -> tuple:
    """``(images, provenance dict or None)`` from a samples ``.npz`` (read with ``allow_pickle=False``)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a samples .npz file; name the file sched_lib.sample wrote")
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # truncated, or not .npy/.npz at all
        reason = ("it is neither an .npz archive nor an .npy array" if "pickle" in str(err)
                  else " ".join(str(err).split()))  # numpy calls any other file "pickled data"
        raise ValueError(f"{path} is not a readable .npz file ({reason}); write it with sched_lib.sample") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single .npy array, not an .npz archive; write it with sched_lib.sample")
    try:
        with loaded as f:
            if "images" not in f.files:
                raise ValueError(f"{path} has no 'images' array (found {f.files}); write it with sched_lib.sample")
            images = f["images"]
            prov = json.loads(str(f["provenance"])) if "provenance" in f.files else None
    except (OSError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as err:  # a member cut short
        raise ValueError(f"{path} is not a readable .npz file ({' '.join(str(err).split())})") from None
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
    if args.json is not None:  # checked (and its folder created) before the scoring, so no score is lost
        try:
            check_output_file(args.json, "--json")
        except ValueError as err:
            parser.error(str(err))
    try:
        score = evaluate_file(args.samples, args.metric, reference_split=args.reference_split,
                              num_reference=args.num_reference)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as err:  # OSError: e.g. no reference data
        print(f"{parser.prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{parser.prog}: interrupted; nothing was written. Run the same command again to score",
              file=sys.stderr)
        return 130
    print(f"{score.label}: {score.value:.6g}")
    print(f"metric {score.metric}, {score.n_samples} samples vs {score.n_reference} CIFAR-10 "
          f"{args.reference_split} images")
    if args.json:
        record = {**score.as_dict(), "samples": str(Path(args.samples).resolve()),
                  "reference_split": args.reference_split}
        text = json.dumps(record, indent=2) + "\n"
        from .train import _atomic_write_bytes

        try:
            _atomic_write_bytes(Path(args.json), lambda f: f.write(text.encode()))
        except OSError as err:
            print(f"{parser.prog}: error: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
