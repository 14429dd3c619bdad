"""The experiment runner, through the functions `main` calls."""

from __future__ import annotations

import json
import os

from absl import flags
import chex
import jax
import numpy as np
import pytest

from amsga_jax import Config
from amsga_jax import data as data_lib
from amsga_jax import training
from experiments import ablation
from experiments import checkpoints as checkpoints_lib
from experiments import flags as flags_lib
from experiments import plot
from experiments import presets
from experiments import run


def _parse(*argv: str) -> Config:
  flag_values = flags.FlagValues()
  flags_lib.define_flags(flag_values)
  flag_values(["train", *argv])
  return flags_lib.config_from_flags(flag_values)


@pytest.fixture(scope="module")
def digits():
  return data_lib.load_dataset("digits")


def _tiny_config(**changes) -> Config:
  config = Config(
      dataset="digits",
      layer_sizes=(64, 48, 32),
      epochs=4,
      batch_size=200,
      learning_rate=0.03,
      eval_every=1,
  )
  return config.replace(**changes)


def test_no_flags_gives_the_quick_preset():
  assert _parse() == presets.quick()


def test_flags_override_the_preset():
  config = _parse(
      "--preset=amsga_mnist",
      "--epochs=7",
      "--layers=784,100,50",
      "--lr=0.01",
      "--theta=3.5",
      "--seeds=2",
      "--nocurriculum",
      "--band_widths=0.1,0.2,0.3,0.4",
  )

  paper = presets.amsga_mnist()
  assert config.epochs == 7
  assert config.layer_sizes == (784, 100, 50)
  assert config.learning_rate == 0.01
  assert config.threshold == 3.5
  assert config.num_seeds == 2
  assert not config.curriculum
  assert config.band_widths == (0.1, 0.2, 0.3, 0.4)
  # Everything not given keeps the preset's value.
  assert config.multiscale and config.warmup_cosine
  assert config.batch_size == paper.batch_size == 0
  assert config.eval_every == paper.eval_every


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--preset=nope",), "Unknown preset 'nope'"),
        (("--lr=-1",), "learning_rate=-1.0 must be a positive number"),
        (("--theta=0",), "threshold=0.0 must be a positive number"),
        (("--num_groups=0",), "num_groups=0 must be a positive integer"),
        (("--band_widths=0.2,0.4,0.6,1.0",), "band_widths"),
        (("--min_selected_fraction=1.5",), "min_selected_fraction=1.5"),
        (("--layers=784,a",), "--layers=784,a: each entry must be int"),
        (("--schedule=backwards",), "schedule='backwards' is not one of"),
        (("--epochs=0",), "epochs=0 must be a positive integer"),
    ],
)
def test_impossible_flags_are_refused(argv, message):
  with pytest.raises(ValueError, match=message):
    _parse(*argv)


def test_every_paper_preset_is_valid():
  for name in presets.PRESETS:
    presets.get_preset(name).validate()


def test_tiny_run_writes_every_file(tmp_path, digits):
  workdir = str(tmp_path / "run")

  results = run.run_experiment(
      _tiny_config(num_seeds=2), workdir, dataset=digits, progress=False
  )

  for name in ("config.json", "metrics.jsonl", "results.json", "curves.png"):
    assert os.path.exists(os.path.join(workdir, name)), name
  with open(os.path.join(workdir, "results.json")) as f:
    stored = json.load(f)
  assert stored == json.loads(json.dumps(results))
  assert stored["seeds"] == [0, 1]
  for split in ("train", "validation", "test"):
    summary = stored[f"{split}_accuracy"]
    assert len(summary["per_seed"]) == 2
    assert 0 <= summary["mean"] <= 1
    assert summary["std"] >= 0
  assert len(stored["seconds_per_epoch"]) == 2
  for key in ("total_seconds", "jax_version", "backend", "device_count"):
    assert key in stored

  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    lines = [json.loads(line) for line in f]
  train_lines = [line for line in lines if line["kind"] == "train"]
  eval_lines = [line for line in lines if line["kind"] == "eval"]
  assert len(train_lines) == 2 * 4  # Two layers, four epochs each.
  assert len(eval_lines) == 2 * 4
  assert {"selected_by_band", "goodness_global_positive"} <= set(train_lines[0])

  steps, seconds, accuracy = plot.validation_curve(workdir)
  assert steps == [1, 2, 3, 4, 5, 6, 7, 8]
  assert seconds == sorted(seconds) and len(accuracy) == 8
  comparison = plot.plot_comparison([workdir, workdir], str(tmp_path / "c.png"))
  assert os.path.getsize(comparison) > 0


def _final_params(workdir: str, config: Config, dataset) -> list[np.ndarray]:
  trainer = training.Trainer(config, dataset)
  store = checkpoints_lib.Checkpoints(workdir, config.epochs)
  state, position, _ = store.restore_latest(trainer.initial_state())
  store.close()
  assert position == training.Position(phase=trainer.num_phases, epoch=0)
  return jax.tree.leaves(state)


@pytest.mark.parametrize(
    "changes, stop_after_chunks",
    [
        ({}, 2),
        ({}, 6),
        (
            dict(
                schedule="simultaneous",
                shift_pixels=1,
                mirror=True,
                readout="softmax",
            ),
            2,
        ),
    ],
    ids=["layer-1", "layer-2", "simultaneous-jitter-readout"],
)
def test_resumed_run_is_bit_identical(
    tmp_path, digits, changes, stop_after_chunks
):
  config = _tiny_config(**changes)
  whole = str(tmp_path / "whole")
  stopped = str(tmp_path / "stopped")
  run.run_experiment(config, whole, dataset=digits, progress=False)

  # Stop after a few chunks (within layer 1, or within layer 2), then resume.
  chunks = iter(range(100))
  with pytest.raises(run.RunInterrupted, match="Rerun the same command"):
    run.run_experiment(
        config,
        stopped,
        dataset=digits,
        progress=False,
        should_stop=lambda: next(chunks) + 1 >= stop_after_chunks,
    )
  assert not os.path.exists(os.path.join(stopped, "results.json"))
  resumed = run.run_experiment(config, stopped, dataset=digits, progress=False)

  for a, b in zip(
      _final_params(whole, config, digits),
      _final_params(stopped, config, digits),
      strict=True,
  ):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  with open(os.path.join(whole, "results.json")) as f:
    assert json.load(f)["test_accuracy"] == resumed["test_accuracy"]
  with open(os.path.join(stopped, "metrics.jsonl")) as f:
    epochs = [
        (line["phase"], line["epoch"])
        for line in map(json.loads, f)
        if line["kind"] == "eval"
    ]
  assert epochs == sorted(set(epochs)), "metrics were written twice"


def test_workdir_with_another_configuration_is_refused(tmp_path, digits):
  workdir = str(tmp_path / "run")
  run.run_experiment(
      _tiny_config(epochs=1), workdir, dataset=digits, progress=False
  )

  with pytest.raises(ValueError, match="epochs: 1 there, 2 now"):
    run.run_experiment(
        _tiny_config(epochs=2), workdir, dataset=digits, progress=False
    )


def test_workdir_accepts_fields_added_later_and_speed_settings(tmp_path):
  # A config.json written before `frozen_outputs` existed, then resumed
  # with the default and with another speed setting: the same run.
  workdir = tmp_path / "run"
  workdir.mkdir()
  older = _tiny_config().to_dict()
  del older["frozen_outputs"]
  (workdir / "config.json").write_text(json.dumps(older))

  run.check_workdir(str(workdir), _tiny_config())
  run.check_workdir(str(workdir), _tiny_config(frozen_outputs="recompute"))

  with pytest.raises(ValueError, match="epochs"):
    run.check_workdir(str(workdir), _tiny_config(epochs=9))


def test_non_finite_loss_stops_with_the_layer_named(tmp_path, digits):
  with pytest.raises(FloatingPointError, match="phase 1"):
    run.run_experiment(
        _tiny_config(learning_rate=1e30, epochs=2),
        str(tmp_path / "run"),
        dataset=digits,
        progress=False,
    )


def test_ablation_writes_table_and_chart(tmp_path, digits, monkeypatch):
  monkeypatch.setattr(data_lib, "load_dataset", lambda *a, **k: digits)
  workdir = str(tmp_path / "ablation")

  results = ablation.run_ablation(
      _tiny_config(epochs=1, layer_sizes=(64, 24)),
      workdir,
      paper_baseline=False,
      progress=False,
      command="python -m experiments.ablation --test",
  )

  assert list(results) == [
      "amsga",
      "no_multiscale",
      "no_curriculum",
      "no_adaptive_threshold",
      "no_warmup_cosine",
      "baseline_same_architecture",
  ]
  chex.assert_equal(results["no_curriculum"]["config"]["curriculum"], False)
  table = open(os.path.join(workdir, "ablation.md")).read()
  rows = [line for line in table.splitlines() if line.startswith("| ")]
  assert len(rows) == 1 + len(results)
  assert "python -m experiments.ablation --test" in table
  assert os.path.exists(os.path.join(workdir, "ablation.png"))
