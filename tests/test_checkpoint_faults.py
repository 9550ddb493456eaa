"""Reading checkpoints: only content that does not parse is set aside (into corrupt/, out of reach
of the pruning and of Lightning's SLURM handler); an I/O error is retried, then stops the run with
a clear message and renames nothing; a type this torch refuses stops the run the same way."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import torch
from lightning.pytorch.trainer.connectors.checkpoint_connector import _CheckpointConnector

from ablate import results
from ablate.train import checkpointing
from ablate.train.checkpointing import CORRUPT, CheckpointUnreadable, usable_checkpoint
from tests.faults import failing_reads


def checkpoint(path: Path, step: int, **extra) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, "state_dict": {"w": torch.ones(2)}, "optimizer_states": [], **extra}, path)
    return path


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    monkeypatch.setattr(checkpointing, "READ_BACKOFF_S", 0.0)


def test_a_transient_read_error_is_retried_and_the_checkpoint_used(tmp_path, monkeypatch):
    newest = checkpoint(tmp_path / "checkpoints" / "step15.ckpt", 15)
    checkpoint(tmp_path / "checkpoints" / "step10.ckpt", 10)
    calls = failing_reads(monkeypatch, newest, errno.EIO, checkpointing.READ_TRIES - 1)
    assert usable_checkpoint([newest, tmp_path / "checkpoints" / "step10.ckpt"], tmp_path / CORRUPT) == (newest, 15)
    assert calls[0] == checkpointing.READ_TRIES and newest.exists() and not (tmp_path / CORRUPT).exists()


@pytest.mark.parametrize("code", [errno.EIO, errno.EACCES, errno.ESTALE])
def test_a_persistent_read_error_stops_the_run_and_renames_nothing(tmp_path, monkeypatch, code):
    newest = checkpoint(tmp_path / "checkpoints" / "step15.ckpt", 15)
    older = checkpoint(tmp_path / "checkpoints" / "step10.ckpt", 10)
    calls = failing_reads(monkeypatch, newest, code, 99)
    with pytest.raises(CheckpointUnreadable) as e:
        usable_checkpoint([newest, older], tmp_path / CORRUPT)
    message = str(e.value)
    assert str(newest) in message and errno.errorcode[code] in message and "left in place" in message
    assert "\n" not in message and calls[0] == checkpointing.READ_TRIES
    assert newest.exists() and older.exists() and not (tmp_path / CORRUPT).exists()


def test_damaged_content_is_set_aside_into_corrupt_and_never_overwritten(tmp_path, capfd):
    ckpts = tmp_path / "checkpoints"
    older = checkpoint(ckpts / "step10.ckpt", 10)
    for attempt in range(2):  # an attempt finds a damaged step15.ckpt twice
        newest = ckpts / "step15.ckpt"
        newest.write_bytes(b"PK\x03\x04 not a checkpoint" + bytes([attempt]))
        assert usable_checkpoint([newest, older], tmp_path / CORRUPT) == (older, 10)
        assert not newest.exists()
    assert sorted(p.name for p in (tmp_path / CORRUPT).iterdir()) == ["step15.ckpt", "step15.ckpt.1"]
    err = capfd.readouterr().err
    assert err.count("is unusable") == 2 and f"moved to {tmp_path / CORRUPT / 'step15.ckpt'}" in err


def test_a_checkpoint_without_the_state_to_resume_is_set_aside(tmp_path):
    weights_only = tmp_path / "checkpoints" / "step5.ckpt"
    weights_only.parent.mkdir()
    torch.save({"global_step": 5, "state_dict": {}}, weights_only)  # no optimiser state
    assert usable_checkpoint([weights_only], tmp_path / CORRUPT) == (None, 0)
    assert (tmp_path / CORRUPT / "step5.ckpt").exists()


def test_another_rank_skips_damaged_content_without_moving_it(tmp_path):
    damaged = tmp_path / "checkpoints" / "step15.ckpt"
    damaged.parent.mkdir()
    damaged.write_bytes(b"")
    assert usable_checkpoint([damaged], None) == (None, 0) and damaged.exists()


class Foreign:  # a type torch's weights-only unpickler refuses (as after a version change)
    pass


def test_a_type_this_torch_refuses_stops_the_run_and_renames_nothing(tmp_path):
    foreign = checkpoint(tmp_path / "checkpoints" / "step15.ckpt", 15, extra=Foreign())
    with pytest.raises(CheckpointUnreadable, match=r"holds a type this torch .* will not load .*Foreign"):
        usable_checkpoint([foreign], tmp_path / CORRUPT)
    assert foreign.exists() and not (tmp_path / CORRUPT).exists()


def test_a_damaged_hpc_checkpoint_set_aside_is_out_of_lightnings_reach(tmp_path):
    """Lightning's SLURM connector resumes from any file named *hpc_ckpt_* in the run folder: a
    `hpc_ckpt_1.ckpt.corrupt` beside it made it pick a missing hpc_ckpt_1.ckpt on every requeue."""
    hpc = tmp_path / "hpc_ckpt_1.ckpt"
    hpc.write_bytes(b"truncated")
    assert usable_checkpoint([hpc], tmp_path / CORRUPT) == (None, 0)
    max_version = _CheckpointConnector._CheckpointConnector__max_ckpt_version_in_folder
    assert max_version(tmp_path, "hpc_ckpt_") is None
    assert (tmp_path / CORRUPT / "hpc_ckpt_1.ckpt").exists()


def test_provenance_records_an_attempt_stopped_by_an_unreadable_checkpoint(tmp_path, monkeypatch):
    from ablate.train.run import _start_attempt

    newest = checkpoint(tmp_path / results.CHECKPOINTS / "step15.ckpt", 15)
    failing_reads(monkeypatch, newest, errno.EIO, 99)
    with pytest.raises(CheckpointUnreadable):
        _start_attempt(tmp_path, {"run_id": "r"}, {}, True, False)
    (entry,) = json.loads((tmp_path / results.PROVENANCE).read_text())["attempts"]
    assert entry["checkpoints_found"] == ["step15.ckpt"] and "could not be read (EIO" in entry["error"]
    assert newest.exists()
