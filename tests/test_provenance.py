"""provenance.json: one entry per attempt; what could leak (the diff, untracked file names, argv)
only in an owner-only file, the diff only when asked for; a stale error.txt archived with its
attempt; the report and PROVENANCE.md say when runs come from several commits or a dirty tree."""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ablate import results
from ablate.experiment import load_experiment
from ablate.report.pipeline import code_notes
from ablate.train import provenance
from tests.helpers import REPO


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def dirty_repo(tmp_path, monkeypatch) -> Path:
    """A checkout with a commit, a changed tracked file and an untracked one; provenance reads it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.org")
    git(repo, "config", "user.name", "t")
    (repo / "model.py").write_text("depth = 20\n")
    git(repo, "add", "model.py")
    git(repo, "commit", "-qm", "one")
    (repo / "model.py").write_text("depth = 56  # secret tweak\n")
    (repo / "notes-on-reviewer-2.txt").write_text("private\n")
    monkeypatch.setattr(provenance, "REPO", repo)
    monkeypatch.delenv(provenance.RECORD_DIFF, raising=False)
    return repo


def test_each_attempt_is_kept_and_nothing_that_could_leak_is_world_readable(tmp_path, dirty_repo, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["ablate", "run", "--data-dir", "/home/me/private"])
    run = tmp_path / "run"
    os.umask(0o022)
    assert provenance.record_attempt(run, {"resumed_from_step": 0}) == 1
    assert provenance.record_attempt(run, {"resumed_from_step": 10}) == 2
    text = (run / results.PROVENANCE).read_text()
    prov = json.loads(text)
    assert [a["attempt"] for a in prov["attempts"]] == [1, 2] and prov["attempt"] == 2  # top level: the latest
    diff = git(dirty_repo, "diff", "HEAD")
    git_public = prov["attempts"][0]["git"]
    assert git_public["dirty"] and git_public["changed_files"] == ["model.py"] and git_public["untracked_files"] == 1
    assert git_public["diff_sha256"] == hashlib.sha256(diff.encode()).hexdigest()
    assert git_public["diff_bytes"] == len(diff.encode())
    for secret in ("secret tweak", "notes-on-reviewer-2", "/home/me/private"):
        assert secret not in text
    private = run / provenance.PRIVATE
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((run / results.PROVENANCE).stat().st_mode) == 0o644
    entries = json.loads(private.read_text())["attempts"]
    assert [e["attempt"] for e in entries] == [1, 2] and entries[0]["untracked"] == ["notes-on-reviewer-2.txt"]
    assert entries[0]["argv"][-1] == "/home/me/private" and "diff" not in entries[0]


def test_the_diff_is_kept_when_asked_for_and_only_in_the_owner_only_file(tmp_path, dirty_repo, monkeypatch):
    provenance.record_attempt(tmp_path / "a", {}, record_diff=True)
    monkeypatch.setenv(provenance.RECORD_DIFF, "1")
    provenance.record_attempt(tmp_path / "b", {})
    for run in (tmp_path / "a", tmp_path / "b"):
        (entry,) = json.loads((run / provenance.PRIVATE).read_text())["attempts"]
        assert "secret tweak" in entry["diff"] and not entry["diff_truncated"]
        assert "secret tweak" not in (run / results.PROVENANCE).read_text()


def test_a_stale_error_is_archived_with_its_attempt(tmp_path, dirty_repo):
    run = tmp_path / "run"
    provenance.record_attempt(run, {"resumed_from_step": 0})
    (run / results.ERROR).write_text("Traceback: attempt 1 failed\n")
    provenance.record_attempt(run, {"resumed_from_step": 5})
    assert not (run / results.ERROR).exists()
    assert (run / "attempts" / "1" / results.ERROR).read_text() == "Traceback: attempt 1 failed\n"
    first, second = json.loads((run / results.PROVENANCE).read_text())["attempts"]
    assert first["error_file"] == "attempts/1/error.txt" and "error_file" not in second


def test_an_old_provenance_file_becomes_the_first_attempt_without_its_diff_and_argv(tmp_path, dirty_repo):
    run = tmp_path / "run"
    run.mkdir()
    old = {"time": "2026-01-01T00:00:00+00:00", "argv": ["x"], "git": {"commit": "a" * 40, "diff": "+secret"}}
    (run / results.PROVENANCE).write_text(json.dumps({**old, "resumed_from_step": 0}))
    provenance.record_attempt(run, {"resumed_from_step": 7})
    text = (run / results.PROVENANCE).read_text()
    first, _ = json.loads(text)["attempts"]
    assert first["git"] == {"commit": "a" * 40} and "+secret" not in text and "argv" not in first


def write_attempts(run: Path, *attempts: tuple[str, bool, int]) -> None:
    """provenance.json of a run whose attempts were (commit, dirty, resumed_from_step)."""
    entries = [
        {
            "attempt": i + 1,
            "time": f"2026-01-01T00:0{i}:00+00:00",
            "git": {"commit": c, "dirty": d},
            "resumed_from_step": s,
        }
        for i, (c, d, s) in enumerate(attempts)
    ]
    run.mkdir(parents=True, exist_ok=True)
    (run / results.PROVENANCE).write_text(json.dumps({**entries[-1], "attempts": entries}))


def test_the_code_of_a_result_is_that_of_the_attempts_it_holds(tmp_path):
    write_attempts(tmp_path / "resumed", ("a" * 40, False, 0), ("b" * 40, True, 10))
    write_attempts(tmp_path / "restarted", ("a" * 40, True, 0), ("b" * 40, False, 0))
    assert results.code_of(tmp_path / "resumed") == (["a" * 40, "b" * 40], True)
    assert results.code_of(tmp_path / "restarted") == (["b" * 40], False)  # the first attempt left nothing
    assert results.code_of(tmp_path / "missing") == ([], False)


def test_the_report_says_when_runs_come_from_several_commits_or_a_dirty_tree(tmp_path):
    exp = load_experiment("degradation")
    ids = [c.run_id for c in exp.cells[:3]]
    write_attempts(tmp_path / exp.name / ids[0], ("a" * 40, False, 0))
    write_attempts(tmp_path / exp.name / ids[1], ("a" * 40, False, 0), ("b" * 40, False, 50))
    write_attempts(tmp_path / exp.name / ids[2], ("a" * 40, True, 0))
    notes = code_notes(exp, tmp_path, ids)
    assert len(notes) == 2
    assert "the 3 runs come from 2 git commits (`aaaaaaaaaa` 3 runs, `bbbbbbbbbb` 1 runs" in notes[0]
    assert f"1 of 3 runs trained from a tree with uncommitted changes (`{ids[2]}`)" in notes[1]
    write_attempts(tmp_path / exp.name / ids[1], ("a" * 40, False, 0))
    write_attempts(tmp_path / exp.name / ids[2], ("a" * 40, False, 0))
    assert code_notes(exp, tmp_path, ids) == []


def test_provenance_md_says_when_runs_come_from_several_commits_or_a_dirty_tree(tmp_path, monkeypatch, capsys):
    exp = load_experiment("activation", "quick")
    for i, cell in enumerate(exp.cells):
        run = tmp_path / "results" / exp.name / cell.run_id
        write_attempts(run, ("a" * 40, i == 0, 0), *([("b" * 40, False, 20)] if i == 1 else []))
        summary = {
            "run_id": cell.run_id,
            "status": "completed",
            "steps": 100,
            "wall_time_s": 3.0,
            "final_test_error": 0.1,
        }
        (run / results.SUMMARY).write_text(json.dumps(summary))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["provenance.py", exp.name, "quick", "2026-01-01T00:00:00", "5", "cmd"])
    runpy.run_path(str(REPO / "docs" / "results" / "provenance.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "**the runs come from 2 commits**" in out and f"**1 of {len(exp.cells)} runs trained from a tree" in out
    assert "| aaaaaaaaaa, bbbbbbbbbb |" in out and "| aaaaaaaaaa (dirty) |" in out
