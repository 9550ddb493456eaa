"""The report folder is written whole under a temporary name and swapped into place under a lock:
concurrent `analyze` runs of one grid leave one complete report, and a reader never finds a
half-written folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

from ablate import results
from tests.faults import small_grid
from tests.helpers import REPO, run_cli

REPORT_FILES = {"report.md", "table.csv", "table.md", "verdicts.json", "curves.png"}  # (--wandb off: no wandb/)


@pytest.mark.parametrize("exchange", [True, False])
def test_a_folder_is_replaced_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(results, "_LIBC", None)  # no renameat2: rename aside, then into place
    final = tmp_path / "_report-q"
    for version in ("old", "new"):
        new = tmp_path / f"_report-q.tmp-{version}"
        new.mkdir()
        (new / "report.md").write_text(version)
        (new / version).write_text("")
        opened = os.open(final, os.O_RDONLY) if final.exists() else None  # a reader that opened the old one
        results.replace_folder(new, final)
        assert sorted(p.name for p in final.iterdir()) == sorted(["report.md", version])
        if opened is not None:
            assert sorted(os.listdir(opened)) == ["old", "report.md"]  # it still reads a whole folder
            os.close(opened)
        assert (final / "report.md").read_text() == version
        beside = sorted(p.name for p in tmp_path.iterdir() if p.name != "_report-q")
        assert all(name.startswith("._report-q.retired-") for name in beside), beside
    # the old folder stays for a reader that opened it just before the swap; a later swap removes it
    (retired,) = tmp_path.glob(".*")
    assert sorted(p.name for p in retired.iterdir()) == ["old", "report.md"]
    assert results.remove_retired(final, grace_s=3600) == []
    assert results.remove_retired(final, grace_s=0) == [retired]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_report-q"]


def test_a_new_report_keeps_the_offline_wandb_runs_of_the_analyses_before(tmp_path):
    import pandas as pd
    from matplotlib.figure import Figure

    from ablate.report.pipeline import Analysis, write_outputs

    exp = SimpleNamespace(name="e", profile="p", path=tmp_path / "e.yaml", cells=[], schedule=None)
    for title in ("first", "second"):
        analysis = Analysis(title, "", pd.DataFrame({"arm": ["a"]}), "| a |", [], {"curves": Figure()})
        paths = write_outputs(exp, tmp_path, analysis)
        offline = paths["report"].parent / "wandb" / f"offline-run-{title}"
        offline.mkdir(parents=True)  # what log_analysis writes into the report folder
        (offline / "run.wandb").write_text(title)
    report = results.report_dir(tmp_path, "e", "p")
    assert (report / "report.md").read_text().startswith("# second")
    assert sorted(p.name for p in (report / "wandb").iterdir()) == ["offline-run-first", "offline-run-second"]


def _complete(folder) -> str | None:
    """Why the report folder is not a complete report, or None."""
    try:
        names = {p.name for p in folder.iterdir()}
        if names != REPORT_FILES:
            return f"files {sorted(names)}"
        json.loads((folder / "verdicts.json").read_text())
        if (folder / "curves.png").read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            return "curves.png is not a whole PNG"
        if "![curves](curves.png)" not in (folder / "report.md").read_text():
            return "report.md is cut short"
    except (OSError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    return None


@pytest.mark.slow
def test_concurrent_analyze_runs_leave_one_complete_report(tmp_path):
    grid_file = small_grid(tmp_path)
    root = tmp_path / "results"
    trained = run_cli("run", str(grid_file), "--results-dir", str(root), "--wandb", "off", "--no-analysis")
    assert trained.returncode == 0, trained.stderr[-2000:]
    report = results.report_dir(root, "faultgrid", "tiny")

    seen, stop = [], threading.Event()

    def read_while_they_write():
        while not stop.is_set():
            if report.exists():
                why = _complete(report)
                if why:
                    seen.append(why)

    reader = threading.Thread(target=read_while_they_write)
    reader.start()
    try:
        cmd = [sys.executable, "-m", "ablate", "analyze", str(grid_file), "--results-dir", str(root), "--wandb", "off"]
        for _ in range(2):  # the second round replaces an existing report
            procs = [
                subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)
            ]
            for p in procs:
                out, err = p.communicate(timeout=600)
                assert p.returncode == 0, err[-2000:]
    finally:
        stop.set()
        reader.join()
    assert not seen, seen[:5]
    assert _complete(report) is None
    assert sorted(p.name for p in report.parent.iterdir() if p.name.startswith("_")) == [
        "_report-tiny",
        "_report-tiny.lock",
    ]
