"""Tests for sched_lib.data: CIFAR-10 loading (all layouts, validation, download), tensors, toys.

The real data is read from ``../shared/data/cifar10`` (beside the repository root) through
``$SCHED_LIB_DATA``; those tests are skipped, with the reason, only where that folder is absent.
Everything else uses tiny fake datasets in the official formats written to ``tmp_path``, with the
expected image counts and the md5 monkeypatched, and a local HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import pickle
import re
import tarfile
import threading
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from sched_lib import data
from sched_lib.data import CIFAR10_CLASSES

SHARED_CIFAR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"
needs_cifar = pytest.mark.skipif(
    not SHARED_CIFAR.is_dir(),
    reason=f"real CIFAR-10 not found at {SHARED_CIFAR} (the ../shared folder beside the repo)",
)

N_PER_BATCH = 4  # fake official batches: 5 train batches of 4 images, a test batch of 4


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No test sees the user's $SCHED_LIB_DATA, cache or proxies."""
    monkeypatch.delenv("SCHED_LIB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg_cache"))
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


# --------------------------------------------------------------------------------------------
# The real data
# --------------------------------------------------------------------------------------------


@needs_cifar
@pytest.mark.parametrize(
    "split, n, mean",
    [
        ("train", 50_000, (0.4914, 0.4822, 0.4465)),  # README of ../shared/data/cifar10
        ("test", 10_000, (0.4942, 0.4851, 0.4504)),
        ("train_10k", 10_000, None),
    ],
)
def test_real_cifar10_from_env(monkeypatch, split, n, mean):
    monkeypatch.setenv("SCHED_LIB_DATA", str(SHARED_CIFAR))
    ds = data.load_cifar10(split, download=False)
    assert len(ds) == n
    assert ds.images.shape == (n, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.labels.shape == (n,) and ds.labels.dtype == np.int64
    assert ds.classes == CIFAR10_CLASSES
    assert np.all(np.bincount(ds.labels, minlength=10) == n // 10)
    assert ds.filenames is not None and ds.filenames.shape == (n,)
    assert Path(ds.source) == SHARED_CIFAR / f"cifar10_{split}.npz"
    if mean is not None:
        got = ds.images.reshape(-1, 3).mean(axis=0, dtype=np.float64) / 255.0
        np.testing.assert_allclose(got, mean, atol=6e-5)
    assert not ds.images.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.images = None


@needs_cifar
def test_sample_asset_is_the_documented_subset():
    """The packaged sample is the first 4 test images of each class, class by class."""
    test = data.load_cifar10("test", SHARED_CIFAR)
    ref = resources.files("sched_lib").joinpath("assets", "cifar10_sample.npz")
    with resources.as_file(ref) as f, np.load(f) as z:
        indices = z["indices"]
    expected = np.concatenate([np.flatnonzero(test.labels == c)[:4] for c in range(10)])
    np.testing.assert_array_equal(indices, expected)
    sample = data.load_sample_images()
    np.testing.assert_array_equal(sample.images, test.images[expected])
    np.testing.assert_array_equal(sample.labels, test.labels[expected])
    np.testing.assert_array_equal(sample.filenames, test.filenames[expected])


def test_sample_images():
    s = data.load_sample_images()
    assert s.images.shape == (40, 32, 32, 3) and s.images.dtype == np.uint8
    np.testing.assert_array_equal(s.labels, np.repeat(np.arange(10), 4))
    assert s.classes == CIFAR10_CLASSES and s.split == "sample"
    assert s.filenames.shape == (40,) and all(f.endswith(".png") for f in s.filenames)
    assert s.images.std() > 20  # real pictures, not blanks


# --------------------------------------------------------------------------------------------
# Fake datasets in the official and npz layouts
# --------------------------------------------------------------------------------------------


def _fake_split(rng, n):
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    return images, labels


def _batch_bytes(images, labels, name):
    """A batch exactly as in cifar-10-batches-py: CHW rows, bytes keys, pickle protocol 2."""
    d = {
        b"batch_label": name.encode(),
        b"labels": [int(x) for x in labels],
        b"data": images.transpose(0, 3, 1, 2).reshape(len(images), -1).copy(),
        b"filenames": [f"{name}_{i:04d}.png".encode() for i in range(len(images))],
    }
    return pickle.dumps(d, protocol=2)


@pytest.fixture
def official(tmp_path, monkeypatch):
    """A tiny but well-formed official layout: batches dir + tarball; counts and md5 patched."""
    rng = np.random.default_rng(0)
    root = tmp_path / "official"
    batch_dir = root / data.CIFAR10_BATCH_DIR
    batch_dir.mkdir(parents=True)
    expected = {}
    for split, names in data.OFFICIAL_BATCHES.items():
        parts = [_fake_split(rng, N_PER_BATCH) for _ in names]
        for (images, labels), name in zip(parts, names, strict=True):
            (batch_dir / name).write_bytes(_batch_bytes(images, labels, name))
        expected[split] = (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
        )
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_cases_per_batch": 4}
    (batch_dir / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    tarball = tmp_path / "tarball" / data.CIFAR10_TARBALL
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(batch_dir, arcname=data.CIFAR10_BATCH_DIR)
    monkeypatch.setattr(data, "EXPECTED_COUNTS", {"train": 5 * N_PER_BATCH, "test": N_PER_BATCH})
    monkeypatch.setattr(data, "CIFAR10_MD5", hashlib.md5(tarball.read_bytes()).hexdigest())
    return {"root": root, "batch_dir": batch_dir, "tarball": tarball, "expected": expected}


def _assert_matches(ds, expected, split):
    images, labels = expected[split]
    np.testing.assert_array_equal(ds.images, images)  # checks the CHW -> HWC conversion
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.classes == CIFAR10_CLASSES and ds.split == split
    assert ds.filenames[0].endswith("_0000.png")


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("where", ["root_dir", "batch_dir", "tarball_file", "tarball_dir"])
def test_official_layouts(official, split, where):
    path = {
        "root_dir": official["root"],
        "batch_dir": official["batch_dir"],
        "tarball_file": official["tarball"],
        "tarball_dir": official["tarball"].parent,
    }[where]
    ds = data.load_cifar10(split, path)
    _assert_matches(ds, official["expected"], split)
    assert len(ds) == data.EXPECTED_COUNTS[split]


def test_tarball_wrong_md5(official, monkeypatch):
    monkeypatch.setattr(data, "CIFAR10_MD5", "0" * 32)
    with pytest.raises(ValueError, match=r"md5 .* does not match"):
        data.load_cifar10("train", official["tarball"])


def test_truncated_tarball(official, monkeypatch, tmp_path):
    cut = tmp_path / "cut" / data.CIFAR10_TARBALL
    cut.parent.mkdir()
    blob = official["tarball"].read_bytes()
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="md5"):  # the checksum catches it first ...
        data.load_cifar10("train", cut)
    # ... and even with a matching checksum a truncated stream is a clear error, not a partial set
    monkeypatch.setattr(data, "CIFAR10_MD5", hashlib.md5(cut.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match=re.escape(str(cut))):
        data.load_cifar10("train", cut)


def test_wrong_counts_are_rejected(official, monkeypatch):
    monkeypatch.setattr(data, "EXPECTED_COUNTS", {"train": 50_000, "test": 10_000})
    with pytest.raises(ValueError, match="must have 50,000 images, found 20"):
        data.load_cifar10("train", official["root"])


def test_malformed_batches(official):
    batch_dir = official["batch_dir"]
    blob = (batch_dir / "data_batch_3").read_bytes()
    (batch_dir / "data_batch_3").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="data_batch_3.*truncated or corrupt"):
        data.load_cifar10("train", batch_dir)
    (batch_dir / "data_batch_3").unlink()
    with pytest.raises(ValueError, match=r"missing \['data_batch_3'\]"):
        data.load_cifar10("train", batch_dir)
    images, labels = _fake_split(np.random.default_rng(1), N_PER_BATCH)
    bad = pickle.loads(_batch_bytes(images, labels, "x"))
    bad[b"data"] = bad[b"data"][:, :100]
    (batch_dir / "data_batch_3").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_3: b'data' must have shape \(n, 3072\)"):
        data.load_cifar10("train", batch_dir)
    bad[b"data"] = images.reshape(N_PER_BATCH, -1)
    bad[b"labels"] = [0, 1, 2, 10]
    (batch_dir / "data_batch_3").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(ValueError, match=r"labels' must lie in 0..9"):
        data.load_cifar10("train", batch_dir)


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_batch_unpickler_refuses_arbitrary_globals(official):
    marker = official["root"] / "pwned"
    payload = pickle.dumps({b"data": _Evil(str(marker)), b"labels": []}, protocol=2)
    (official["batch_dir"] / "test_batch").write_bytes(payload)
    with pytest.raises(ValueError, match="posix.mkdir is not allowed|os.mkdir is not allowed"):
        data.load_cifar10("test", official["batch_dir"])
    assert not marker.exists()


def test_train_10k_exists_only_as_npz(official):
    with pytest.raises(FileNotFoundError, match="only in the .npz layout"):
        data.load_cifar10("train_10k", official["root"])
    with pytest.raises(ValueError, match="exists only as cifar10_train_10k.npz"):
        data.load_cifar10("train_10k", official["tarball"])


def _write_npz(path, n, label=0, **overrides):
    rng = np.random.default_rng(label)
    arrays = {
        "images": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
        "labels": np.full(n, label, np.uint8),
        "classes": np.array(CIFAR10_CLASSES),
    }
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


@pytest.fixture
def small_counts(monkeypatch):
    monkeypatch.setattr(data, "EXPECTED_COUNTS", {"train": 6, "test": 3, "train_10k": 2})


def test_npz_file_and_split_guard(tmp_path, small_counts):
    f = _write_npz(tmp_path / "cifar10_test.npz", 3, label=4)
    ds = data.load_cifar10("test", f)
    assert len(ds) == 3 and np.all(ds.labels == 4) and ds.labels.dtype == np.int64
    assert ds.filenames is None
    with pytest.raises(ValueError, match="is the 'test' split"):
        data.load_cifar10("train_10k", f)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"labels": None}, r"missing arrays \['labels'\]"),
        ({"images": np.zeros((3, 32, 32, 3), np.float32)}, "must have dtype uint8"),
        ({"images": np.zeros((3, 3, 32, 32), np.uint8)}, r"must have shape \(N, 32, 32, 3\)"),
        ({"labels": np.array([0, 1, 10])}, r"must lie in 0..9"),
        ({"labels": np.array([0, 1])}, r"'labels' must have shape \(3,\)"),
        ({"classes": np.array(CIFAR10_CLASSES[::-1])}, "standard order"),
    ],
)
def test_malformed_npz(tmp_path, small_counts, overrides, match):
    _write_npz(tmp_path / "cifar10_test.npz", 3, **overrides)
    with pytest.raises(ValueError, match=match):
        data.load_cifar10("test", tmp_path)


def test_truncated_npz(tmp_path, small_counts):
    f = _write_npz(tmp_path / "cifar10_test.npz", 3)
    blob = f.read_bytes()
    f.write_bytes(blob[: len(blob) * 2 // 3])
    with pytest.raises(ValueError, match=re.escape(str(f)) + ".*truncated or corrupt"):
        data.load_cifar10("test", tmp_path)


def test_unrecognised_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    with pytest.raises(ValueError, match="not a CIFAR-10 file"):
        data.load_cifar10("test", f)


def test_bad_split():
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test', 'train_10k'\)"):
        data.load_cifar10("validation")


# --------------------------------------------------------------------------------------------
# Resolution order: explicit path, then $SCHED_LIB_DATA, then the cache
# --------------------------------------------------------------------------------------------


def test_resolution_order(tmp_path, monkeypatch, small_counts):
    explicit = _write_npz(tmp_path / "explicit" / "cifar10_test.npz", 3, label=1).parent
    env = _write_npz(tmp_path / "env" / "cifar10_test.npz", 3, label=2).parent
    cache = _write_npz(tmp_path / "cache" / "cifar10_test.npz", 3, label=3).parent

    def label(**kw):
        return int(data.load_cifar10("test", download=False, **kw).labels[0])

    monkeypatch.setenv("SCHED_LIB_DATA", str(env))
    assert label(path=explicit, cache_dir=cache) == 1  # path beats env var
    assert label(cache_dir=cache) == 2  # env var beats cache
    monkeypatch.delenv("SCHED_LIB_DATA")
    assert label(cache_dir=cache) == 3  # cache last
    monkeypatch.setenv("SCHED_LIB_DATA", "")  # empty means unset
    assert label(cache_dir=cache) == 3
    # The default cache is $XDG_CACHE_HOME/sched_lib.
    xdg = tmp_path / "xdg"
    _write_npz(xdg / "sched_lib" / "cifar10_test.npz", 3, label=5)
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    assert data.default_cache_dir() == xdg / "sched_lib"
    assert label() == 5


def test_default_cache_without_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.default_cache_dir() == tmp_path / ".cache" / "sched_lib"


def test_given_locations_do_not_fall_through(tmp_path, monkeypatch, small_counts):
    cache = _write_npz(tmp_path / "cache" / "cifar10_test.npz", 3, label=3).parent
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="the 'path' argument"):
        data.load_cifar10("test", empty, cache_dir=cache)
    monkeypatch.setenv("SCHED_LIB_DATA", str(empty))
    with pytest.raises(FileNotFoundError, match=r"\$SCHED_LIB_DATA"):
        data.load_cifar10("test", cache_dir=cache)
    monkeypatch.setenv("SCHED_LIB_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_cifar10("test", cache_dir=cache)


def test_no_data_and_no_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=False"):
        data.load_cifar10("test", download=False, cache_dir=tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="cannot be downloaded"):
        data.load_cifar10("train_10k", cache_dir=tmp_path / "c")


# --------------------------------------------------------------------------------------------
# Download from a local HTTP server (with Range support)
# --------------------------------------------------------------------------------------------


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.payload`` at ``/<CIFAR10_TARBALL>``, honouring ``Range: bytes=N-``."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        srv = self.server
        rng = self.headers.get("Range")
        srv.ranges.append(rng)
        if self.path != "/" + data.CIFAR10_TARBALL:
            self.send_error(404)
            return
        body, start = srv.payload, 0
        if rng and srv.honor_range:
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        rest = body[start:]
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest if srv.cut_after is None else rest[: srv.cut_after])

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    payload = os.urandom(300_000)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    srv.payload, srv.ranges, srv.honor_range, srv.cut_after = payload, [], True, None
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/{data.CIFAR10_TARBALL}"
    srv.md5 = hashlib.md5(payload).hexdigest()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def test_download_fresh(server, tmp_path):
    dest = tmp_path / "f.bin"
    assert data.download_file(server.url, dest, server.md5, progress=True) == dest
    assert dest.read_bytes() == server.payload
    assert not (tmp_path / "f.bin.part").exists()
    assert server.ranges == [None]


def test_download_resumes_existing_part(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(server.payload[:123_456])
    data.download_file(server.url, dest, server.md5, progress=False)
    assert dest.read_bytes() == server.payload
    assert server.ranges == ["bytes=123456-"]
    assert not (tmp_path / "f.bin.part").exists()


def test_download_interrupted_then_resumed(server, tmp_path):
    dest = tmp_path / "f.bin"
    part = tmp_path / "f.bin.part"
    server.cut_after = 100_000
    with pytest.raises(RuntimeError, match="call again to resume"):
        data.download_file(server.url, dest, server.md5, progress=False)
    assert part.read_bytes() == server.payload[:100_000] and not dest.exists()
    server.cut_after = None
    data.download_file(server.url, dest, server.md5, progress=False)
    assert dest.read_bytes() == server.payload
    assert server.ranges == [None, "bytes=100000-"]


def test_download_server_ignores_range(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(server.payload[:1000])
    server.honor_range = False
    data.download_file(server.url, dest, server.md5, progress=False)
    assert dest.read_bytes() == server.payload  # restarted, not appended


def test_download_complete_part_is_not_fetched_again(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(server.payload)
    data.download_file(server.url, dest, server.md5, progress=False)
    assert dest.read_bytes() == server.payload and server.ranges == []


def test_download_refused_range_restarts(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(server.payload + b"extra")  # longer than the file
    data.download_file(server.url, dest, server.md5, progress=False)
    assert dest.read_bytes() == server.payload
    assert server.ranges == [f"bytes={len(server.payload) + 5}-", None]


@pytest.mark.parametrize("stale_part", [False, True])
def test_download_md5_mismatch_leaves_nothing(server, tmp_path, stale_part):
    dest = tmp_path / "f.bin"
    if stale_part:  # a .part that is not a prefix of the file: resuming gives a wrong md5
        (tmp_path / "f.bin.part").write_bytes(b"x" * 5000)
        md5 = server.md5
    else:
        md5 = "0" * 32
    with pytest.raises(ValueError, match="md5 .* does not match"):
        data.download_file(server.url, dest, md5, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_download_http_error(server, tmp_path):
    with pytest.raises(RuntimeError, match="HTTP 404"):
        data.download_file(server.url + ".missing", tmp_path / "f.bin", server.md5, progress=False)
    with pytest.raises(ValueError, match="md5 must be"):
        data.download_file(server.url, tmp_path / "f.bin", "abc", progress=False)


def test_load_cifar10_downloads_into_cache(server, official, monkeypatch, tmp_path):
    server.payload = official["tarball"].read_bytes()
    monkeypatch.setattr(data, "CIFAR10_URL", server.url)
    cache = tmp_path / "new_cache"
    ds = data.load_cifar10("test", cache_dir=cache, progress=False)
    _assert_matches(ds, official["expected"], "test")
    assert (cache / data.CIFAR10_TARBALL).read_bytes() == server.payload
    assert server.ranges == [None]
    ds = data.load_cifar10("train", cache_dir=cache)  # from the cache: no second download
    _assert_matches(ds, official["expected"], "train")
    assert server.ranges == [None]


def test_load_cifar10_download_mismatch(server, official, monkeypatch, tmp_path):
    server.payload = official["tarball"].read_bytes()[:-10]
    monkeypatch.setattr(data, "CIFAR10_URL", server.url)
    cache = tmp_path / "new_cache"
    with pytest.raises(ValueError, match="md5"):
        data.load_cifar10("test", cache_dir=cache, progress=False)
    assert list(cache.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Tensors
# --------------------------------------------------------------------------------------------


def test_tensor_round_trip():
    u = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    x = data.to_tensor(u)
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    pixel = data.to_tensor(np.array([[[0, 255, 128]]], np.uint8))  # one HWC pixel -> CHW
    np.testing.assert_allclose(pixel[:, 0, 0].numpy(), [-1.0, 1.0, 128 / 127.5 - 1], atol=1e-7)
    np.testing.assert_array_equal(data.from_tensor(x), u)
    np.testing.assert_array_equal(data.from_tensor(data.to_tensor(u[0])), u[0])  # single image
    np.testing.assert_array_equal(data.to_tensor(torch.from_numpy(u)), x)
    sample = data.load_sample_images().images  # read-only arrays are fine
    np.testing.assert_array_equal(data.from_tensor(data.to_tensor(sample)), sample)


def test_from_tensor_clips_and_rounds():
    x = torch.tensor([-3.0, -1.0, 0.0, 0.999, 1.0, 7.0]).reshape(1, 1, 1, 6).expand(1, 3, 1, 6)
    u = data.from_tensor(x)
    assert u.shape == (1, 1, 6, 3) and u.dtype == np.uint8
    np.testing.assert_array_equal(u[0, 0, :, 0], [0, 0, 128, 255, 255, 255])


@pytest.mark.parametrize(
    "fn, arg, match",
    [
        (data.to_tensor, np.zeros((2, 32, 32, 3), np.float32), "uint8"),
        (data.to_tensor, np.zeros((2, 3, 32, 32), np.uint8), "channels last"),
        (data.to_tensor, np.zeros((32, 32), np.uint8), "channels last"),
        (data.from_tensor, torch.zeros(2, 32, 32, 3), "channels first"),
        (data.from_tensor, torch.zeros(2, 3, 4, 4, dtype=torch.uint8), "floating-point"),
        (data.from_tensor, torch.full((1, 3, 4, 4), float("nan")), "NaN"),
    ],
)
def test_tensor_validation(fn, arg, match):
    with pytest.raises(ValueError, match=match):
        fn(arg)


# --------------------------------------------------------------------------------------------
# Toy 2-D data
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", data.TOY_2D_NAMES)
def test_toy_2d(name):
    x = data.toy_2d(name, 1000, seed=3)
    assert x.shape == (1000, 2) and x.dtype == np.float64 and np.all(np.isfinite(x))
    np.testing.assert_array_equal(x, data.toy_2d(name, 1000, seed=3))
    assert not np.array_equal(x, data.toy_2d(name, 1000, seed=4))
    big = data.toy_2d(name, 200_000)
    np.testing.assert_allclose(big.mean(axis=0), 0.0, atol=0.02)
    np.testing.assert_allclose(big.var(axis=0), 1.0, atol=0.02)
    assert data.toy_2d(name, 1).shape == (1, 2)


def test_toy_2d_validation():
    with pytest.raises(
        ValueError, match="valid names are.*moons.*gaussian_mixture.*swiss_roll.*checkerboard"
    ):
        data.toy_2d("spirals", 10)
    for n in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n must be"):
            data.toy_2d("moons", n)
    with pytest.raises(ValueError, match="seed must be"):
        data.toy_2d("moons", 10, seed=-1)


def test_unwritable_cache_is_one_clear_error(tmp_path, monkeypatch):
    """A cache that cannot be created (here: under a regular file, which also fails as root) names the
    cache and says how to point at the data, before any download starts."""
    monkeypatch.delenv("SCHED_LIB_DATA", raising=False)
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(OSError, match=r"cannot create the CIFAR-10 cache .*SCHED_LIB_DATA"):
        data.load_cifar10("train", cache_dir=blocker / "cache", download=True)
    assert blocker.read_text() == "x"
