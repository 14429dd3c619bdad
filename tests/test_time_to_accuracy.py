"""`experiments.time_to_accuracy` on workdirs the tests write."""

import json

import pytest

from experiments import time_to_accuracy


def _workdir(tmp_path, name, accuracies, *, finished=True):
  """A two-phase run of 10 epochs a phase, evaluated every 5 epochs at
  2 s per epoch."""
  workdir = tmp_path / name
  workdir.mkdir()
  (workdir / "config.json").write_text(json.dumps({"epochs": 10}))
  positions = [(0, 5), (0, 10), (1, 5), (1, 10)][: len(accuracies)]
  with open(workdir / "metrics.jsonl", "w") as f:
    for (phase, epoch), accuracy in zip(positions, accuracies, strict=True):
      record = dict(
          kind="eval",
          phase=phase,
          epoch=epoch,
          validation_accuracy=accuracy,
          seconds_per_epoch=2.0,
      )
      f.write(json.dumps(record) + "\n")
  if finished:
    results = dict(
        total_seconds=55.0,
        validation_accuracy=dict(mean=accuracies[-1]),
        test_accuracy=dict(mean=0.95),
    )
    (workdir / "results.json").write_text(json.dumps(results))
  return str(workdir)


def test_first_crossing_in_epochs_and_training_seconds(tmp_path):
  workdir = _workdir(tmp_path, "fast", [0.5, 0.92, 0.94, 0.93])

  record = time_to_accuracy.time_to_accuracy(workdir, 0.935)

  assert record["reached"]
  # Crossed at phase 1, epoch 5: 15 epochs over both layers, 30 s.
  assert (record["epochs"], record["training_seconds"]) == (15, 30.0)
  assert record["best_validation"] == 0.94
  assert (record["total_seconds"], record["test"]) == (55.0, 0.95)


def test_a_run_that_never_reaches_the_target(tmp_path):
  workdir = _workdir(tmp_path, "slow", [0.5, 0.9], finished=False)

  record = time_to_accuracy.time_to_accuracy(workdir, 0.935)
  table = time_to_accuracy.format_table([record], 0.935)

  assert not record["reached"] and record["epochs"] is None
  assert record["test"] is None
  assert "| slow | not reached | - | - | 90.00 | - | - |" in table


def test_refuses_what_is_not_a_workdir_or_a_fraction(tmp_path):
  with pytest.raises(ValueError, match="no metrics.jsonl"):
    time_to_accuracy.time_to_accuracy(str(tmp_path), 0.9)
  workdir = _workdir(tmp_path, "run", [0.5])
  with pytest.raises(ValueError, match="target=93.45"):
    time_to_accuracy.time_to_accuracy(workdir, 93.45)
