"""One experiment, end to end: data, training, logs, checkpoints, results.

`run_experiment` is what `python -m experiments.train` calls after parsing
its flags, and what tests call directly. A run writes into its workdir:

- `config.json`: the configuration; a rerun with another one is refused.
- `checkpoints/`: orbax checkpoints; a rerun resumes from the latest.
- `metrics.jsonl`: one JSON object a line, `"kind": "train"` per epoch and
  trained layer (seed means), `"kind": "eval"` at each evaluation.
- `results.json`: accuracies (mean, std, per seed), timings, environment.
- `curves.png`: the learning curves, drawn from `metrics.jsonl`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import contextlib
import json
import os
import platform
import signal
import threading
import time
from typing import Any

from absl import logging
import jax
import numpy as np
import tqdm

from amsga_jax import ChunkReport
from amsga_jax import Config
from amsga_jax import Position
from amsga_jax import Trainer
from amsga_jax import data as data_lib
from experiments import checkpoints as checkpoints_lib
from experiments import plot

# Fields that may change between a run and its resumption.
RESUMABLE_CHANGES = frozenset(
    {"checkpoint_every", "frozen_outputs", "frozen_cache_limit_mib"}
)


class RunInterrupted(Exception):
  """Raised when a run stopped on request after saving a checkpoint."""


def config_differences(stored: dict[str, Any], config: Config) -> list[str]:
  """The fields, other than `RESUMABLE_CHANGES`, where two configs differ.

  `stored` is a `Config.to_dict()` read back from a run's files; a field
  added to `Config` after that run was written counts as its default.
  """
  defaults = Config().to_dict()
  stored = {**defaults, **stored}
  wanted = config.to_dict()
  return sorted(
      name
      for name in set(stored) | set(wanted)
      if name not in RESUMABLE_CHANGES and stored.get(name) != wanted.get(name)
  )


def check_workdir(workdir: str, config: Config) -> None:
  """Writes `config.json`, or refuses a workdir holding another config.

  Raises:
    ValueError: listing each field that differs.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  wanted = config.to_dict()
  if os.path.exists(path):
    with open(path) as f:
      stored = json.load(f)
    differences = config_differences(stored, config)
    if differences:
      details = ", ".join(
          f"{name}: {stored.get(name)!r} there, {wanted.get(name)!r} now"
          for name in differences
      )
      raise ValueError(
          f"Workdir {workdir} holds a run with another configuration"
          f" ({details}). Use a new --workdir, or delete that one to start"
          " over."
      )
  with open(path, "w") as f:
    json.dump(wanted, f, indent=2)


def _truncate_metrics(path: str, position: Position) -> None:
  """Drops metric lines written after the checkpoint a run resumes from."""
  if not os.path.exists(path):
    return
  kept = []
  with open(path) as f:
    for line in f:
      record = json.loads(line)
      if (record["phase"], record["epoch"]) <= (position.phase, position.epoch):
        kept.append(line)
  with open(path, "w") as f:
    f.writelines(kept)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[Callable[[], bool]]:
  """Turns SIGINT and SIGTERM into a request to stop at the next chunk."""
  requested = threading.Event()
  if threading.current_thread() is not threading.main_thread():
    yield requested.is_set
    return

  def handler(signum, frame):
    del frame
    if requested.is_set():
      raise KeyboardInterrupt
    logging.warning(
        "Received %s: saving a checkpoint after the current chunk (send it"
        " again to stop at once).",
        signal.Signals(signum).name,
    )
    requested.set()

  previous = {
      s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)
  }
  try:
    yield requested.is_set
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


def _summary(values: np.ndarray) -> dict[str, Any]:
  values = np.asarray(values, np.float64)
  return {
      "mean": float(values.mean()),
      "std": float(values.std()),
      "per_seed": [float(v) for v in values],
  }


def _format_diagnostics(layer: int, epoch: int, config: Config, d: dict) -> str:
  text = (
      f"layer {layer + 1} epoch {epoch}/{config.epochs} | loss"
      f" {d['loss']:.4f} | G+ {d['goodness_positive']:.3f} G-"
      f" {d['goodness_negative']:.3f} theta {d['threshold']:.3f}"
  )
  if "goodness_local_positive" in d:
    text += (
        " | scales+ {:.3f}/{:.3f}/{:.3f} scales- {:.3f}/{:.3f}/{:.3f}".format(
            d["goodness_local_positive"],
            d["goodness_intermediate_positive"],
            d["goodness_global_positive"],
            d["goodness_local_negative"],
            d["goodness_intermediate_negative"],
            d["goodness_global_negative"],
        )
    )
  text += f" | selected {d['selected_fraction']:.3f}"
  if "selected_by_band" in d:
    text += (
        f" (band {d['selected_by_band']:.3f}, very hard"
        f" {d['selected_by_very_hard']:.3f}, top-up"
        f" {d['selected_by_top_up']:.3f})"
    )
  return text + f" | lr {d['learning_rate']:.2e} | |grad| {d['grad_norm']:.2e}"


class _Recorder:
  """Logs, writes metrics and checkpoints after every chunk."""

  def __init__(
      self,
      config: Config,
      trainer: Trainer,
      workdir: str,
      checkpoints: checkpoints_lib.Checkpoints,
      timing: dict[str, Any],
      should_stop: Callable[[], bool],
      progress: bool,
  ):
    self.config = config
    self.trainer = trainer
    self.checkpoints = checkpoints
    self.timing = timing
    self.should_stop = should_stop
    self.progress = progress
    self.metrics_path = os.path.join(workdir, "metrics.jsonl")
    self.bar = None
    self.bar_phase = None
    self.session_start = time.perf_counter()

  def _bar_for(self, phase: int, first_epoch: int):
    if self.bar_phase != phase:
      if self.bar is not None:
        self.bar.close()
      name = (
          f"layer {phase + 1}/{self.config.num_layers}"
          if self.config.schedule == "layerwise"
          else "all layers"
      )
      self.bar = tqdm.tqdm(
          total=self.config.epochs,
          initial=first_epoch,
          desc=name,
          unit="epoch",
          disable=not self.progress,
          dynamic_ncols=True,
      )
      self.bar_phase = phase
    return self.bar

  def __call__(self, report: ChunkReport) -> bool:
    config = self.config
    phase = report.position.phase - (1 if report.phase_finished else 0)
    metrics = {k: v.mean(axis=0) for k, v in report.metrics.items()}
    chunk_length = next(iter(metrics.values())).shape[0]
    last_epoch = report.first_epoch + chunk_length

    # Stop on non-finite values before anything is saved.
    for name, values in metrics.items():
      if not np.all(np.isfinite(values)):
        raise FloatingPointError(
            f"{name} became non-finite in phase {phase + 1} by epoch"
            f" {last_epoch}. The last checkpoint is intact; try a lower"
            " --lr or --matmul_precision=float32."
        )

    # Per-epoch training metrics, then the evaluation line.
    lines = []
    for i in range(chunk_length):
      for j, layer in enumerate(report.trained_layers):
        record = {"kind": "train", "phase": phase, "layer": layer}
        record["epoch"] = report.first_epoch + i + 1
        record.update({k: float(v[i, j]) for k, v in metrics.items()})
        lines.append(record)
    depth = phase + 1 if config.schedule == "layerwise" else config.num_layers
    by_depth = report.validation_accuracy[:, :depth]
    diagnostics = {
        str(layer): {k: float(v[-1, j]) for k, v in metrics.items()}
        for j, layer in enumerate(report.trained_layers)
    }
    lines.append(
        {
            "kind": "eval",
            "phase": phase,
            "epoch": last_epoch,
            "validation_accuracy": float(by_depth[:, -1].mean()),
            "validation_accuracy_std": float(by_depth[:, -1].std()),
            "validation_accuracy_per_seed": by_depth[:, -1].tolist(),
            "validation_accuracy_by_depth": by_depth.mean(axis=0).tolist(),
            "seconds_per_epoch": report.seconds_per_epoch,
            "layers": diagnostics,
        }
    )
    if jax.process_index() == 0:
      with open(self.metrics_path, "a") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)

    # Time per phase, for results.json.
    spent = self.timing["phase_seconds"].setdefault(str(phase), [0.0, 0])
    spent[0] += report.seconds_per_epoch * chunk_length
    spent[1] += chunk_length

    for layer, values in diagnostics.items():
      logging.info(
          "%s | val %.4f (by depth %s) | %.3f s/epoch%s",
          _format_diagnostics(int(layer), last_epoch, config, values),
          by_depth[:, -1].mean(),
          " ".join(f"{a:.4f}" for a in by_depth.mean(axis=0)),
          report.seconds_per_epoch,
          f" (compiled in {report.compile_seconds:.1f} s)"
          if report.compile_seconds > 0.5
          else "",
      )
    bar = self._bar_for(phase, report.first_epoch)
    bar.update(chunk_length)
    bar.set_postfix(
        loss=f"{metrics['loss'][-1].mean():.4f}",
        val=f"{by_depth[:, -1].mean():.4f}",
        s_per_epoch=f"{report.seconds_per_epoch:.3f}",
    )

    # Checkpoints at phase ends, every checkpoint_every epochs, and on stop.
    stop = self.should_stop()
    every = config.checkpoint_every
    if (
        report.phase_finished
        or stop
        or (every and report.position.epoch % every == 0)
    ):
      self.save(report)
    return stop

  def save(self, report: ChunkReport) -> None:
    self.checkpoints.save(report.state, report.position, self.elapsed_record())

  def elapsed_record(self) -> dict[str, Any]:
    now = time.perf_counter()
    self.timing["total_seconds"] += now - self.session_start
    self.session_start = now
    return self.timing

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()


def environment() -> dict[str, Any]:
  """What a result needs to say about where it was computed."""
  devices = jax.devices()
  return {
      "jax_version": jax.__version__,
      "backend": jax.default_backend(),
      "device_count": jax.device_count(),
      "device_kind": devices[0].device_kind,
      "machine": platform.machine(),
      "processor_count": os.cpu_count(),
      "python": platform.python_version(),
  }


def load_data(
    config: Config, *, data_dir: str | None = None, download: bool = False
) -> data_lib.Dataset:
  """The dataset, split and sized as `config` asks."""
  return data_lib.load_dataset(
      config.dataset,
      data_dir,
      download=download,
      validation_size=config.validation_size or None,
      split_seed=config.split_seed,
      train_size=config.train_size or None,
  )


def run_experiment(
    config: Config,
    workdir: str,
    *,
    data_dir: str | None = None,
    download: bool = False,
    dataset: data_lib.Dataset | None = None,
    progress: bool = True,
    should_stop: Callable[[], bool] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
  """Trains `config`, resuming from `workdir` if it holds a checkpoint.

  Args:
    config: the run's configuration.
    workdir: the run's folder (see the module docstring).
    data_dir: where to look for the dataset first.
    download: allow downloading a missing dataset into the cache.
    dataset: an already loaded dataset (tests); overrides the loading.
    progress: show progress bars.
    should_stop: polled after every chunk; True saves a checkpoint and
      raises `RunInterrupted`. SIGINT and SIGTERM do the same.
    command: the command line, recorded in results.json.

  Returns:
    The results, as also written to `WORKDIR/results.json`.

  Raises:
    ValueError: an invalid configuration, or a workdir holding another.
    amsga_jax.data.DataError: the dataset cannot be found or read.
    RunInterrupted: the run stopped on request; rerun to resume.
  """
  config.validate()
  check_workdir(workdir, config)
  logging.info(
      "Configuration: %s",
      ", ".join(f"{k}={v}" for k, v in config.to_dict().items()),
  )

  if dataset is None:
    dataset = load_data(config, data_dir=data_dir, download=download)
  logging.info(
      "Data: %s from %s; %d train, %d validation, %d test images.",
      dataset.name,
      dataset.source,
      len(dataset.train_labels),
      len(dataset.validation_labels),
      len(dataset.test_labels),
  )

  trainer = Trainer(config, dataset)
  state, position = trainer.initial_state(), Position()
  checkpoints = checkpoints_lib.Checkpoints(workdir, config.epochs)
  timing = {"phase_seconds": {}, "total_seconds": 0.0}
  restored = checkpoints.restore_latest(state)
  if restored is not None:
    state, position, timing = restored
    logging.info(
        "Resuming from the checkpoint at phase %d, epoch %d.",
        position.phase + 1,
        position.epoch,
    )
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  _truncate_metrics(metrics_path, position)

  with _stop_on_signals() as signalled:
    stop = lambda: signalled() or bool(should_stop and should_stop())
    recorder = _Recorder(
        config, trainer, workdir, checkpoints, timing, stop, progress
    )
    try:
      state, position = trainer.run(state, position, on_chunk=recorder)
    finally:
      recorder.close()
  if position.phase < trainer.num_phases:
    checkpoints.close()
    raise RunInterrupted(
        f"Stopped at phase {position.phase + 1}, epoch {position.epoch}; the"
        f" checkpoint is in {workdir}. Rerun the same command to resume."
    )

  # The finished run: final checkpoint, accuracies, results, pictures.
  checkpoints.save(state, position, recorder.elapsed_record())
  checkpoints.close()
  accuracy = {
      split: trainer.accuracy(state, split)
      for split in ("train", "validation", "test")
  }
  phase_seconds = timing["phase_seconds"]
  results = {
      "config": config.to_dict(),
      "dataset": dataset.name,
      "data_source": dataset.source,
      "seeds": [config.seed + s for s in range(config.num_seeds)],
      **{
          f"{split}_accuracy": _summary(values[:, -1])
          for split, values in accuracy.items()
      },
      "test_accuracy_by_depth": accuracy["test"].mean(axis=0).tolist(),
      "seconds_per_epoch": [
          phase_seconds[str(p)][0] / max(phase_seconds[str(p)][1], 1)
          for p in range(trainer.num_phases)
          if str(p) in phase_seconds
      ],
      "total_seconds": timing["total_seconds"],
      "command": command,
      **environment(),
  }
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
    plot.plot_curves(workdir)

  test = results["test_accuracy"]
  logging.info(
      "Test accuracy %.4f ± %.4f over %d seed(s); %.0f s in all.",
      test["mean"],
      test["std"],
      config.num_seeds,
      results["total_seconds"],
  )
  return results
