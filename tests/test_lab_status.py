"""sched_lib.provenance's lab status (the status page): what each recorded lab says produced it, and whether
sched_lib changed since that commit, computed with git in a throw-away repository."""

import json
import shutil
import subprocess

import pytest

from sched_lib import provenance

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.org")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "sched_lib").mkdir()
    (tmp_path / "sched_lib" / "a.py").write_text("x = 1\n")
    (tmp_path / "notes.md").write_text("n\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "one")
    monkeypatch.setattr(provenance, "_PACKAGE_PARENT", tmp_path)
    return tmp_path


def _lab(path, commit, wall="wall time 123 s (preset cpu)"):
    line = f"sched_lib 0.1.0 | commit {commit} | python 3.11.7 | torch 2.13.0+cpu | device Tesla T4 | preset t4\n"
    cells = [{"cell_type": "code", "source": [], "outputs": []},
             {"cell_type": "code", "source": [], "outputs": [{"output_type": "stream", "name": "stdout", "text": [line]}]},
             {"cell_type": "code", "source": [], "outputs": [{"output_type": "stream", "name": "stdout", "text": wall}]}]
    path.write_text(json.dumps({"cells": cells}))
    return path


def test_recorded_provenance_reads_the_lab(tmp_path):
    rec = provenance.recorded_provenance(_lab(tmp_path / "my_lab.ipynb", "abc1234"))
    assert rec == dict(lab="my_lab", commit="abc1234", device="Tesla T4", preset="t4", wall_s=123.0)
    bare = provenance.recorded_provenance(_lab(tmp_path / "bare.ipynb", "x", wall=""))
    assert bare["wall_s"] is None


def test_changed_since_from_git(repo):
    first = _git(repo, "rev-parse", "--short", "HEAD")
    assert provenance.sched_lib_changed_since(first) == "no"
    (repo / "notes.md").write_text("other\n")  # a change outside sched_lib does not count
    _git(repo, "commit", "-qam", "notes")
    assert provenance.sched_lib_changed_since(first) == "no"
    (repo / "sched_lib" / "a.py").write_text("x = 2\n")
    assert provenance.sched_lib_changed_since(first) == "yes: a.py, in 0 commits since"  # uncommitted counts
    _git(repo, "commit", "-qam", "change")
    assert provenance.sched_lib_changed_since(first) == "yes: a.py, in 1 commit since"
    assert provenance.sched_lib_changed_since(first + "+uncommitted").startswith("cannot tell: recorded from uncommitted")
    assert provenance.sched_lib_changed_since("0000000") == "cannot tell: commit 0000000 is not in this repository"
    assert provenance.sched_lib_changed_since("unknown").startswith("cannot tell")


def test_lab_status_rows_and_no_git(repo, monkeypatch):
    labs = repo / "labs"
    labs.mkdir()
    _lab(labs / "b.ipynb", _git(repo, "rev-parse", "--short", "HEAD"))
    _lab(labs / "a.ipynb", "0000000")
    rows = provenance.lab_status_rows(labs)
    assert [r["lab"] for r in rows] == ["a", "b"] and rows[1]["changed"] == "no"
    monkeypatch.setattr(provenance, "_git", lambda *args: None)  # git missing: said, not raised
    assert provenance.sched_lib_changed_since("abc") == "cannot tell: git is not available here"
