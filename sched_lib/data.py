"""Data for the labs: CIFAR-10 (read, validated, downloaded when needed) and 2-D toy datasets.

CIFAR-10 is the 60,000-image, 10-class, 32×32 RGB dataset of

    Alex Krizhevsky. *Learning Multiple Layers of Features from Tiny Images.*
    Technical report, University of Toronto, 2009.

:func:`load_cifar10` looks for the data, in this order (DESIGN.md, "Data"):

1. the ``path`` argument (a directory, a ``.npz`` file or the official tarball);
2. the environment variable ``SCHED_LIB_DATA`` (a directory or file, as above);
3. a user cache: ``cache_dir``, else ``$XDG_CACHE_HOME/sched_lib``, else ``~/.cache/sched_lib``.
   If the cache holds nothing usable and ``download=True``, the official
   ``cifar-10-python.tar.gz`` is downloaded there (resumable, md5-checked).

The first of 1-3 that is *given* is the only place searched: an explicit path or a set
``SCHED_LIB_DATA`` that does not hold the split is an error, never a silent fall-through to
another copy of the data (or to a 170 MB download).

A location may hold any of these layouts (checked in this order):

* ``cifar10_train.npz`` / ``cifar10_test.npz`` / ``cifar10_train_10k.npz`` with arrays
  ``images`` (uint8, N×32×32×3, HWC, RGB), ``labels`` (integers 0-9) and ``classes``
  (the 10 names), as in ``../shared/data/cifar10`` (its README gives provenance and checks);
* the extracted official ``cifar-10-batches-py/`` directory (or that directory itself);
* the official tarball ``cifar-10-python.tar.gz``.

Everything read is validated (shapes, dtypes, label range, class names, the 50,000 / 10,000
image counts of the official splits, the tarball's md5). A wrong checksum, a truncated or
malformed file raises :class:`ValueError` naming the file and the problem; a dataset is
returned whole or not at all.

Security note: the official batches are Python pickles. They are only unpickled from a tarball
whose md5 matches the official one, or from a batches directory that *you* pointed
``sched_lib`` at (``path``, ``SCHED_LIB_DATA`` or your cache directory). As defence in depth the
unpickler accepts only the handful of globals a NumPy array needs (see :class:`_BatchUnpickler`).
Do not point ``sched_lib`` at batch files you do not trust. ``.npz`` files are always read with
``allow_pickle=False``.

Also here: :func:`to_tensor` / :func:`from_tensor` (uint8 HWC images <-> float32 NCHW in [-1, 1]),
:func:`load_sample_images` (40 real test images shipped with the package) and :func:`toy_2d`
(2-D toy distributions for the CPU demos).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where tensors are made: NumPy-only pages load faster
    import torch

__all__ = [
    "CIFAR10",
    "CIFAR10_CLASSES",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "ENV_VAR",
    "EXPECTED_COUNTS",
    "SPLITS",
    "TOY_2D_NAMES",
    "default_cache_dir",
    "download_file",
    "from_tensor",
    "load_cifar10",
    "load_sample_images",
    "md5_file",
    "to_tensor",
    "toy_2d",
]

# --------------------------------------------------------------------------------------------
# Constants (module level so that tests can monkeypatch them)
# --------------------------------------------------------------------------------------------

#: Official download location of the python version of CIFAR-10.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
#: md5 of the official ``cifar-10-python.tar.gz`` (as published on the CIFAR-10 page).
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
#: File name of the official tarball.
CIFAR10_TARBALL = "cifar-10-python.tar.gz"
#: Name of the directory inside the official tarball.
CIFAR10_BATCH_DIR = "cifar-10-batches-py"
#: Environment variable naming a directory (or file) that holds CIFAR-10.
ENV_VAR = "SCHED_LIB_DATA"

#: The 10 class names in the standard order: label ``i`` is ``CIFAR10_CLASSES[i]``.
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

#: Splits that :func:`load_cifar10` knows. ``train_10k`` is a class-balanced 10,000-image subset
#: of ``train`` that exists only in the ``.npz`` layout (see ../shared/data/cifar10/README.md).
SPLITS = ("train", "test", "train_10k")
#: Number of images each split must have.
EXPECTED_COUNTS = {"train": 50_000, "test": 10_000, "train_10k": 10_000}
#: ``.npz`` file name of each split.
NPZ_NAMES = {s: f"cifar10_{s}.npz" for s in SPLITS}
#: Official batch files of each split (inside ``cifar-10-batches-py/``).
OFFICIAL_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
_META = "batches.meta"

_IMAGE_SHAPE = (32, 32, 3)
_N_PIXELS = 32 * 32 * 3
_CHUNK = 1 << 20  # download / hashing chunk, bytes


# --------------------------------------------------------------------------------------------
# The dataset container
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class CIFAR10:
    """A validated, read-only CIFAR-10 split (or subset) held in memory.

    Attributes:
        images: uint8 array, shape (N, 32, 32, 3), channels last (HWC), RGB, values 0-255.
        labels: int64 array, shape (N,), values in ``0 .. len(classes) - 1``.
        classes: the class names; ``classes[labels[i]]`` names image ``i``.
        split: ``"train"``, ``"test"``, ``"train_10k"`` or ``"sample"``.
        source: where the data was read from (a path), for provenance.
        filenames: optional str array, shape (N,), the original CIFAR-10 file names.

    The arrays are made read-only (the dataclass is frozen); copy them to modify.
    Use :func:`to_tensor` to get float32 NCHW tensors in [-1, 1].
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple
    split: str
    source: str
    filenames: np.ndarray | None = None

    def __post_init__(self):
        what = f"CIFAR10({self.split!r} from {self.source})"
        images, labels, classes = _validate_arrays(self.images, self.labels, self.classes, what)
        filenames = None
        if self.filenames is not None:
            filenames = np.asarray(self.filenames)
            if filenames.shape != (len(images),) or filenames.dtype.kind != "U":
                raise ValueError(
                    f"{what}: 'filenames' must be a str array of shape ({len(images)},), "
                    f"got dtype {filenames.dtype} shape {filenames.shape}"
                )
            filenames = _readonly(filenames)
        object.__setattr__(self, "images", _readonly(images))
        object.__setattr__(self, "labels", _readonly(labels))
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "filenames", filenames)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"CIFAR10(split={self.split!r}, n={len(self)}, images={self.images.dtype}"
            f"{list(self.images.shape)}, classes={len(self.classes)}, source={self.source!r})"
        )


def _readonly(a: np.ndarray) -> np.ndarray:
    """Return a read-only view of ``a`` (the caller's array keeps its own flags)."""
    v = a.view()
    v.setflags(write=False)
    return v


def _validate_arrays(images, labels, classes, what: str):
    """Check images/labels/classes and return them normalised (uint8, int64, tuple of str)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"{what}: 'images' must have dtype uint8, got {images.dtype}")
    if images.ndim != 4 or images.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(
            f"{what}: 'images' must have shape (N, 32, 32, 3) (HWC, RGB), got {images.shape}"
        )
    labels = np.asarray(labels)
    if not (np.issubdtype(labels.dtype, np.integer) and labels.dtype != np.bool_):
        raise ValueError(f"{what}: 'labels' must be integers, got dtype {labels.dtype}")
    if labels.shape != (len(images),):
        raise ValueError(
            f"{what}: 'labels' must have shape ({len(images)},) to match the images, "
            f"got {labels.shape}"
        )
    if isinstance(classes, np.ndarray):
        if classes.dtype.kind != "U":
            raise ValueError(f"{what}: 'classes' must be strings, got dtype {classes.dtype}")
        classes = classes.tolist()
    if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
        raise ValueError(f"{what}: 'classes' must be a sequence of str, got {classes!r}")
    classes = tuple(classes)
    if classes != CIFAR10_CLASSES:
        raise ValueError(
            f"{what}: 'classes' must be the 10 CIFAR-10 names in the standard order "
            f"{CIFAR10_CLASSES}, got {classes}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ValueError(
            f"{what}: 'labels' must lie in 0..{len(classes) - 1}, "
            f"got min {labels.min()} max {labels.max()}"
        )
    return images, labels.astype(np.int64), classes


def _check_count(n: int, split: str, what: str) -> None:
    expected = EXPECTED_COUNTS[split]
    if n != expected:
        raise ValueError(
            f"{what}: split {split!r} must have {expected:,} images, found {n:,} "
            "(truncated, wrong split, or not CIFAR-10?)"
        )


# --------------------------------------------------------------------------------------------
# Public loaders
# --------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """The user cache directory: ``$XDG_CACHE_HOME/sched_lib``, else ``~/.cache/sched_lib``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "sched_lib"


def load_cifar10(
    split: str = "train",
    path: str | os.PathLike | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> CIFAR10:
    """Load one CIFAR-10 split, validated, from a path, ``$SCHED_LIB_DATA`` or the user cache.

    Data: Krizhevsky (2009), *Learning Multiple Layers of Features from Tiny Images*.

    Args:
        split: ``"train"`` (50,000 images), ``"test"`` (10,000) or ``"train_10k"`` (a
            class-balanced 10,000-image subset of train; only in the ``.npz`` layout).
        path: a directory holding one of the layouts described in the module docstring, or a
            ``.npz`` file, or the official tarball. When given, it is the only place searched.
        download: when neither ``path`` nor ``$SCHED_LIB_DATA`` is given and the cache holds
            nothing usable, download the official tarball (about 170 MB) into the cache.
        cache_dir: the cache directory (default :func:`default_cache_dir`).
        progress: show a tqdm progress bar while downloading.

    Returns:
        :class:`CIFAR10` with ``images`` uint8 (N, 32, 32, 3) HWC RGB and ``labels`` int64 (N,).

    Raises:
        ValueError: bad ``split``; a wrong checksum; a truncated, malformed or wrong-sized file.
        FileNotFoundError: the location given holds no copy of the split (the message says
            what was looked for and how to point ``sched_lib`` at the data).
        RuntimeError: the download failed (a partial ``.part`` file is kept for resuming).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if path is not None:
        return _load_from(Path(path), split, origin="the 'path' argument")
    env = os.environ.get(ENV_VAR, "")
    if env:
        return _load_from(Path(env), split, origin=f"${ENV_VAR}")

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if cache.is_dir():
        found = _find_in_dir(cache, split)
        if found is not None:
            return _read_source(found, split)
    hint = (
        f"Pass path=..., set ${ENV_VAR} to a folder with the data (for example "
        "../shared/data/cifar10), or use download=True."
    )
    if split not in OFFICIAL_BATCHES:
        raise FileNotFoundError(
            f"CIFAR-10 split {split!r} not found in the cache {cache}; it exists only as "
            f"{NPZ_NAMES[split]} (the .npz layout) and cannot be downloaded. {hint}"
        )
    if not download:
        raise FileNotFoundError(
            f"CIFAR-10 split {split!r} not found in the cache {cache} and download=False. {hint}"
        )
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create the CIFAR-10 cache {cache} ({err.strerror or err}). {hint}") from None
    if not os.access(cache, os.W_OK):
        raise PermissionError(f"the CIFAR-10 cache {cache} is not writable, so nothing can be downloaded. {hint}")
    tarball = cache / CIFAR10_TARBALL
    download_file(CIFAR10_URL, tarball, CIFAR10_MD5, progress=progress)
    return _read_tarball(tarball, split)


def load_sample_images() -> CIFAR10:
    """Load the 40 real CIFAR-10 test images shipped with ``sched_lib`` (no download needed).

    The file ``sched_lib/assets/cifar10_sample.npz`` holds the first 4 images of each class, in
    the fixed order of ``cifar10_test.npz`` from ``../shared/data/cifar10`` (itself pixel-identical
    to the official ``test_batch``), stored class by class: images 0-3 are airplanes, 4-7
    automobiles, and so on. It also keeps their original CIFAR-10 ``filenames`` and their
    ``indices`` into ``cifar10_test.npz``. See ``sched_lib/assets/README.md``.

    Data: Krizhevsky (2009), *Learning Multiple Layers of Features from Tiny Images*,
    University of Toronto technical report.

    Returns:
        :class:`CIFAR10` with ``split="sample"``: images uint8 (40, 32, 32, 3), labels int64 (40,).
    """
    ref = resources.files("sched_lib").joinpath("assets", "cifar10_sample.npz")
    with resources.as_file(ref) as file:
        if not file.is_file():
            raise FileNotFoundError(
                f"{file}: the packaged sample images are missing; reinstall sched_lib"
            )
        images, labels, classes, filenames = _read_npz_arrays(file)
    ds = CIFAR10(images, labels, classes, split="sample", source=str(file), filenames=filenames)
    counts = np.bincount(ds.labels, minlength=len(ds.classes))
    if len(ds) != 40 or not np.all(counts == 4):
        raise ValueError(f"{file}: expected 4 images per class (40 in all), got counts {counts}")
    return ds


# --------------------------------------------------------------------------------------------
# Finding and reading the layouts
# --------------------------------------------------------------------------------------------


def _load_from(location: Path, split: str, origin: str) -> CIFAR10:
    """Load ``split`` from a user-given file or directory (and nowhere else)."""
    if location.is_dir():
        found = _find_in_dir(location, split)
        if found is None:
            official = (
                f", {CIFAR10_BATCH_DIR}/ or {CIFAR10_TARBALL}"
                if split in OFFICIAL_BATCHES
                else f" (split {split!r} exists only in the .npz layout)"
            )
            raise FileNotFoundError(
                f"CIFAR-10 split {split!r} not found in {location} (from {origin}): "
                f"looked for {NPZ_NAMES[split]}{official}"
            )
        return _read_source(found, split)
    if location.is_file():
        kind = _sniff(location)
        if kind == "npz":
            for other, name in NPZ_NAMES.items():
                if location.name == name and other != split:
                    raise ValueError(
                        f"{location} (from {origin}) is the {other!r} split but split={split!r} "
                        "was asked for"
                    )
        return _read_source((kind, location), split)
    raise FileNotFoundError(f"{location} (from {origin}) does not exist")


def _find_in_dir(d: Path, split: str):
    """Return ``(kind, path)`` of the first layout in ``d`` that holds ``split``, else None."""
    npz = d / NPZ_NAMES[split]
    if npz.is_file():
        return ("npz", npz)
    if split not in OFFICIAL_BATCHES:
        return None
    if (d / CIFAR10_BATCH_DIR).is_dir():
        return ("batches", d / CIFAR10_BATCH_DIR)
    if (d / _META).is_file():  # d is itself the extracted batches directory
        return ("batches", d)
    if (d / CIFAR10_TARBALL).is_file():
        return ("tarball", d / CIFAR10_TARBALL)
    return None


def _sniff(file: Path) -> str:
    """Tell a ``.npz`` (zip) from a ``.tar.gz`` (gzip) by their magic bytes."""
    with open(file, "rb") as f:
        magic = f.read(4)
    if magic.startswith(b"PK"):
        return "npz"
    if magic.startswith(b"\x1f\x8b"):
        return "tarball"
    raise ValueError(
        f"{file}: not a CIFAR-10 file: expected a .npz (zip) or the official .tar.gz (gzip), "
        f"or a directory; the file starts with {magic!r}"
    )


def _read_source(found, split: str) -> CIFAR10:
    kind, p = found
    if kind == "npz":
        return _read_npz(p, split)
    if kind == "batches":
        return _read_batch_dir(p, split)
    if kind == "tarball":
        return _read_tarball(p, split)
    raise AssertionError(kind)  # pragma: no cover


_NPZ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError)


def _read_npz_arrays(file: Path):
    """Read images, labels, classes (and filenames if present) from a ``.npz``; no pickles."""
    try:
        # Open the file ourselves: np.load leaks its handle when the zip is unreadable.
        with open(file, "rb") as fh:
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single .npy array, not a .npz archive")
            with z:
                keys = ("images", "labels", "classes", "filenames")
                arrays = {k: z[k] for k in keys if k in z.files}
                present = sorted(z.files)
    except _NPZ_ERRORS as exc:
        raise ValueError(
            f"{file}: cannot read as .npz ({type(exc).__name__}: {exc}); truncated or corrupt?"
        ) from exc
    missing = [k for k in ("images", "labels", "classes") if k not in arrays]
    if missing:
        raise ValueError(f"{file}: missing arrays {missing}; it has {present}")
    return arrays["images"], arrays["labels"], arrays["classes"], arrays.get("filenames")


def _read_npz(file: Path, split: str) -> CIFAR10:
    images, labels, classes, filenames = _read_npz_arrays(file)
    ds = CIFAR10(images, labels, classes, split=split, source=str(file), filenames=filenames)
    _check_count(len(ds), split, str(file))
    return ds


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler for the official batches that resolves only the globals a NumPy array needs.

    The official files (pickled by Python 2) reference ``numpy.core.multiarray._reconstruct``,
    ``numpy.ndarray`` and ``numpy.dtype``; files re-pickled by Python 3 may also use
    ``_codecs.encode`` (protocol 2) or ``numpy._core.numeric._frombuffer`` (protocol 5).
    Anything else raises :class:`pickle.UnpicklingError`. This narrows, but does not remove,
    the risk of unpickling: still only read files you trust (module docstring).
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _unpickle(blob: bytes, what: str) -> dict:
    try:
        obj = _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as exc:  # any failure to parse untrusted bytes means a malformed file
        raise ValueError(
            f"{what}: not a valid CIFAR-10 batch pickle ({type(exc).__name__}: {exc}); "
            "truncated or corrupt?"
        ) from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{what}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def _parse_batch(blob: bytes, what: str):
    """Decode one official batch into images (n, 32, 32, 3) uint8, labels, filenames."""
    d = _unpickle(blob, what)
    for key in (b"data", b"labels"):
        if key not in d:
            raise ValueError(f"{what}: missing key {key!r}; it has {sorted(map(repr, d))}")
    data = d[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise ValueError(
            f"{what}: b'data' must be a uint8 ndarray, got {type(data).__name__}"
            f"{'' if not isinstance(data, np.ndarray) else ' ' + str(data.dtype)}"
        )
    if data.ndim != 2 or data.shape[1] != _N_PIXELS:
        raise ValueError(f"{what}: b'data' must have shape (n, 3072), got {data.shape}")
    labels = d[b"labels"]
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        size = len(labels) if hasattr(labels, "__len__") else "?"
        raise ValueError(
            f"{what}: b'labels' must be a list of {len(data)} integers, got "
            f"{type(labels).__name__} of length {size}"
        )
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{what}: b'labels' must be integers, got dtype {labels.dtype}")
    filenames = d.get(b"filenames")
    if filenames is not None:
        if len(filenames) != len(data) or not all(isinstance(f, bytes) for f in filenames):
            raise ValueError(f"{what}: b'filenames' must be {len(data)} byte strings")
        filenames = [f.decode("utf-8", errors="replace") for f in filenames]
    # Official layout: each row is 1024 R, then 1024 G, then 1024 B values, row-major (CHW).
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels, filenames


def _parse_meta(blob: bytes, what: str) -> tuple:
    d = _unpickle(blob, what)
    names = d.get(b"label_names")
    if not isinstance(names, list) or not all(isinstance(n, bytes) for n in names):
        raise ValueError(f"{what}: b'label_names' must be a list of byte strings")
    return tuple(n.decode("ascii", errors="replace") for n in names)


def _assemble(blobs: dict, split: str, source: str) -> CIFAR10:
    """Build the split from the raw bytes of ``batches.meta`` and its batch files."""
    classes = _parse_meta(blobs[_META], f"{source}: {_META}")
    parts = [_parse_batch(blobs[n], f"{source}: {n}") for n in OFFICIAL_BATCHES[split]]
    images = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
    labels = np.concatenate([p[1] for p in parts])
    filenames = None
    if all(p[2] is not None for p in parts):
        filenames = np.array([f for p in parts for f in p[2]], dtype=str)
    ds = CIFAR10(images, labels, classes, split=split, source=source, filenames=filenames)
    _check_count(len(ds), split, source)
    return ds


def _official_only(split: str, where) -> None:
    if split not in OFFICIAL_BATCHES:
        raise ValueError(
            f"{where}: split {split!r} exists only as {NPZ_NAMES[split]} (the .npz layout); "
            f"the official batches hold {tuple(OFFICIAL_BATCHES)}"
        )


def _read_batch_dir(d: Path, split: str) -> CIFAR10:
    """Read an extracted ``cifar-10-batches-py/`` directory (user-supplied: see security note)."""
    _official_only(split, d)
    names = (_META, *OFFICIAL_BATCHES[split])
    missing = [n for n in names if not (d / n).is_file()]
    if missing:
        raise ValueError(f"{d}: incomplete CIFAR-10 batches directory, missing {missing}")
    blobs = {n: (d / n).read_bytes() for n in names}
    return _assemble(blobs, split, str(d))


def _read_tarball(file: Path, split: str) -> CIFAR10:
    """Read a split straight from the official tarball after checking its md5."""
    _official_only(split, file)
    digest = md5_file(file)
    if digest != CIFAR10_MD5:
        raise ValueError(
            f"{file}: md5 {digest} does not match the official CIFAR-10 tarball's "
            f"{CIFAR10_MD5} (truncated, corrupt or a different file); delete it and "
            "download again"
        )
    wanted = {f"{CIFAR10_BATCH_DIR}/{n}": n for n in (_META, *OFFICIAL_BATCHES[split])}
    blobs = {}
    try:
        with tarfile.open(file, mode="r|gz") as tar:  # one streaming pass, nothing extracted
            for member in tar:
                name = wanted.get(member.name.lstrip("./"))
                if name is None:
                    continue
                if not member.isfile():
                    raise ValueError(f"{file}: {member.name} is not a regular file")
                blobs[name] = tar.extractfile(member).read()
                if len(blobs) == len(wanted):
                    break
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ValueError(
            f"{file}: cannot read the tarball ({type(exc).__name__}: {exc}); truncated or corrupt?"
        ) from exc
    missing = sorted(set(wanted) - {f"{CIFAR10_BATCH_DIR}/{n}" for n in blobs})
    if missing:
        raise ValueError(f"{file}: the tarball lacks {missing}")
    return _assemble(blobs, split, str(file))


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------


def md5_file(file: str | os.PathLike) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    h = hashlib.md5()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(
    url: str,
    dest: str | os.PathLike,
    md5: str,
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, resumably, and verify its md5 before it appears there.

    The bytes go to ``<dest>.part``. If a ``.part`` already exists the request asks for the rest
    with an HTTP ``Range: bytes=<size>-`` header; a server that ignores it (status 200) or
    refuses it (416) makes the download start over. When the transfer is complete the md5 is
    checked: a match moves the file into place with :func:`os.replace` (atomic), a mismatch
    deletes the ``.part`` and raises. An interrupted transfer keeps the ``.part`` so that the
    next call resumes it. Uses only the standard library (``urllib.request``); honours the usual
    proxy environment variables.

    Args:
        url: the http(s) URL.
        dest: the final path; its directory must exist.
        md5: the expected hex md5 of the whole file.
        progress: show a tqdm progress bar.
        timeout: socket timeout in seconds.

    Returns:
        ``Path(dest)``.

    Raises:
        ValueError: bad arguments, or the md5 does not match (the ``.part`` is deleted).
        RuntimeError: the transfer failed (HTTP error, connection lost, short read).
    """
    from tqdm.auto import tqdm

    if (
        not isinstance(md5, str)
        or len(md5) != 32
        or any(c not in "0123456789abcdef" for c in md5.lower())
    ):
        raise ValueError(f"md5 must be 32 hex digits, got {md5!r}")
    md5 = md5.lower()
    dest = Path(dest)
    if not dest.parent.is_dir():
        raise ValueError(f"dest's directory {dest.parent} does not exist")
    part = dest.with_name(dest.name + ".part")

    offset = part.stat().st_size if part.is_file() else 0
    if offset and md5_file(part) == md5:  # complete already (interrupted before the rename)
        os.replace(part, dest)
        return dest
    for attempt in range(2):  # the second attempt only after a refused Range (416)
        headers = {"User-Agent": "sched_lib"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and offset and attempt == 0:
                offset = 0  # the .part is not a prefix the server recognises: start over
                continue
            raise RuntimeError(f"downloading {url}: HTTP {exc.code} {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            raise RuntimeError(f"downloading {url} failed: {exc}") from exc
        break

    with response:
        status = response.status
        content_range = response.headers.get("Content-Range", "")
        if offset and status == 206 and content_range.startswith(f"bytes {offset}-"):
            mode = "ab"  # resume
        elif status in (200, 206) and (status == 200 or content_range.startswith("bytes 0-")):
            mode, offset = "wb", 0  # server ignored Range (or there was nothing to resume)
        else:
            raise RuntimeError(
                f"downloading {url}: unexpected response {status} (Content-Range "
                f"{content_range!r}) to a request from byte {offset}"
            )
        length = response.headers.get("Content-Length")
        remaining = int(length) if length is not None else None
        total = offset + remaining if remaining is not None else None
        received = 0
        try:
            with (
                open(part, mode) as f,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=dest.name,
                    disable=not progress,
                ) as bar,
            ):
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    f.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise RuntimeError(
                f"downloading {url} was interrupted after {offset + received} bytes ({exc}); "
                f"call again to resume from {part}"
            ) from exc
    if remaining is not None and received != remaining:
        raise RuntimeError(
            f"downloading {url}: got {received} of {remaining} bytes; call again to resume "
            f"from {part}"
        )

    digest = md5_file(part)
    if digest != md5:
        part.unlink()
        raise ValueError(
            f"downloaded {url} to {part}: md5 {digest} does not match the expected {md5}; "
            "the partial file was deleted, try again"
        )
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------------------------
# Tensors
# --------------------------------------------------------------------------------------------


def to_tensor(images) -> "torch.Tensor":
    """Convert uint8 HWC images to a float32 NCHW tensor in [-1, 1]: ``x = u / 127.5 - 1``.

    Args:
        images: uint8 array or tensor, shape (N, H, W, C) or (H, W, C), C in {1, 3, 4}
            (channels last, as stored by :func:`load_cifar10`).

    Returns:
        float32 tensor, shape (N, C, H, W) (or (C, H, W)), values in [-1, 1].
    """
    import torch

    if isinstance(images, torch.Tensor):
        if images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 (0-255), got {images.dtype}")
        x = images.detach().cpu()
    else:
        arr = np.asarray(images)
        if arr.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (0-255), got {arr.dtype}")
        x = torch.from_numpy(np.array(arr, copy=True))
    if x.ndim not in (3, 4) or x.shape[-1] not in (1, 3, 4):
        raise ValueError(
            "images must be channels last, shape (N, H, W, C) or (H, W, C) with C in {1, 3, 4}, "
            f"got {tuple(x.shape)}"
        )
    x = x.movedim(-1, -3).to(torch.float32)
    return (x / 127.5 - 1.0).contiguous()


def from_tensor(x) -> np.ndarray:
    """Convert a float NCHW tensor in [-1, 1] back to uint8 NHWC images (rounded, clipped).

    Inverse of :func:`to_tensor`: ``u = clip(round((x + 1) * 127.5), 0, 255)``; values outside
    [-1, 1] (as a model's samples may be) are clipped. NaN or inf raise.

    Args:
        x: float tensor or array, shape (N, C, H, W) or (C, H, W), C in {1, 3, 4}.

    Returns:
        uint8 numpy array, shape (N, H, W, C) (or (H, W, C)).
    """
    import torch

    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if not t.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor in [-1, 1], got {t.dtype}")
    if t.ndim not in (3, 4) or t.shape[-3] not in (1, 3, 4):
        raise ValueError(
            "x must be channels first, shape (N, C, H, W) or (C, H, W) with C in {1, 3, 4}, "
            f"got {tuple(t.shape)}"
        )
    if not torch.isfinite(t).all():
        raise ValueError("x contains NaN or inf")
    u = ((t.to(torch.float64) + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return u.movedim(-3, -1).contiguous().numpy()


# --------------------------------------------------------------------------------------------
# 2-D toy data
# --------------------------------------------------------------------------------------------

#: Names accepted by :func:`toy_2d`.
TOY_2D_NAMES = ("moons", "gaussian_mixture", "swiss_roll", "checkerboard")

_MOONS_NOISE = 0.05
_GM_RADIUS, _GM_STD, _GM_K = 1.0, 0.1, 8
_SWISS_NOISE = 0.3
_SWISS_T = (1.5 * np.pi, 4.5 * np.pi)


def _swiss_roll_moments():
    """Exact mean and per-coordinate variance of the noise-free swiss roll (Gauss-Legendre)."""
    nodes, weights = np.polynomial.legendre.leggauss(200)
    a, b = _SWISS_T
    t = 0.5 * (b - a) * nodes + 0.5 * (a + b)
    w = 0.5 * weights  # averages over t ~ U(a, b)
    xy = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
    mean = w @ xy
    var = w @ (xy - mean) ** 2
    return mean, var


_SWISS_MEAN, _SWISS_VAR = _swiss_roll_moments()


def toy_2d(name: str, n: int, *, seed: int = 0) -> np.ndarray:
    """Draw ``n`` i.i.d. points from a named 2-D toy distribution, standardised per coordinate.

    Each distribution is shifted and scaled by its *exact* population mean and standard deviation
    per coordinate (worked out analytically, or by quadrature for the swiss roll), so every
    coordinate has mean 0 and variance 1 up to sampling noise, matching the N(0, I) prior scale,
    and the distribution does not depend on ``n``. Coordinates may be correlated.

    * ``"moons"``: two interleaved half circles (as in scikit-learn's ``make_moons``), each point
      on either moon with probability 1/2, Gaussian noise std 0.05 before scaling.
    * ``"gaussian_mixture"``: 8 equally weighted Gaussians (std 0.1) centred on a unit circle.
    * ``"swiss_roll"``: the 2-D swiss roll ``t (cos t, sin t)``, ``t ~ U(1.5π, 4.5π)``,
      Gaussian noise std 0.3 before scaling.
    * ``"checkerboard"``: uniform on the 8 dark squares of a 4×4 checkerboard on [-2, 2]².

    Args:
        name: one of :data:`TOY_2D_NAMES`.
        n: number of points, an int >= 1.
        seed: seed for :func:`numpy.random.default_rng`; the same seed gives the same points.

    Returns:
        float64 array, shape (n, 2).
    """
    if name not in TOY_2D_NAMES:
        raise ValueError(f"unknown toy dataset {name!r}; valid names are {TOY_2D_NAMES}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    n = int(n)
    rng = np.random.default_rng(int(seed))

    if name == "moons":
        t = rng.uniform(0.0, np.pi, n)
        lower = rng.random(n) < 0.5
        x = np.where(lower, 1.0 - np.cos(t), np.cos(t))
        y = np.where(lower, 0.5 - np.sin(t), np.sin(t))
        pts = np.stack([x, y], axis=1) + _MOONS_NOISE * rng.standard_normal((n, 2))
        # Exact moments: E[x] = 1/2, E[y] = 1/4, Var x = 3/4, Var y = 9/16 - 1/π (+ noise).
        mean = np.array([0.5, 0.25])
        var = np.array([0.75, 9.0 / 16.0 - 1.0 / np.pi]) + _MOONS_NOISE**2
    elif name == "gaussian_mixture":
        k = rng.integers(0, _GM_K, n)
        angle = 2.0 * np.pi * k / _GM_K
        centres = _GM_RADIUS * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        pts = centres + _GM_STD * rng.standard_normal((n, 2))
        mean = np.zeros(2)
        var = np.full(2, _GM_RADIUS**2 / 2.0 + _GM_STD**2)
    elif name == "swiss_roll":
        t = rng.uniform(*_SWISS_T, n)
        pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
        pts += _SWISS_NOISE * rng.standard_normal((n, 2))
        mean, var = _SWISS_MEAN, _SWISS_VAR + _SWISS_NOISE**2
    else:  # checkerboard: x ~ U(-2, 2); y picks the dark square in x's column
        x = rng.uniform(-2.0, 2.0, n)
        y = rng.uniform(0.0, 1.0, n) - 2.0 * rng.integers(0, 2, n) + np.floor(x) % 2
        pts = np.stack([x, y], axis=1)
        mean, var = np.zeros(2), np.full(2, 4.0 / 3.0)  # both marginals are U(-2, 2)
    return ((pts - mean) / np.sqrt(var)).astype(np.float64)
