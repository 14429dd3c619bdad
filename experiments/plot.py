"""Learning curves of a run, drawn from its `metrics.jsonl`.

`python -m experiments.plot WORKDIR` redraws `WORKDIR/curves.png` for any
finished or unfinished run. `python -m experiments.plot --compare OUT.png
WORKDIR...` draws the validation accuracy of several runs against epochs
and against training time, in one figure.
"""

from __future__ import annotations

import collections
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(workdir: str) -> tuple[dict[int, list[dict]], list[dict]]:
  """Training lines grouped by layer, and evaluation lines, in file order."""
  by_layer = collections.defaultdict(list)
  evaluations = []
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      record = json.loads(line)
      if record["kind"] == "train":
        by_layer[record["layer"]].append(record)
      else:
        evaluations.append(record)
  return dict(by_layer), evaluations


def plot_curves(workdir: str) -> str:
  """Draws loss, goodness against threshold, selected fraction and
  validation accuracy per layer; returns the path of `curves.png`."""
  by_layer, evaluations = read_metrics(workdir)
  layers = sorted(by_layer)
  figure, axes = plt.subplots(
      len(layers) + 1,
      3,
      figsize=(13, 3.0 * (len(layers) + 1)),
      squeeze=False,
  )

  for row, layer in zip(axes[:-1], layers, strict=True):
    records = by_layer[layer]
    epochs = [r["epoch"] for r in records]

    def series(name, records=records):
      return [r[name] for r in records]

    row[0].plot(epochs, series("loss"))
    row[0].set_title(f"layer {layer + 1}: loss")

    row[1].plot(epochs, series("goodness_positive"), label="positive")
    row[1].plot(epochs, series("goodness_negative"), label="negative")
    row[1].plot(epochs, series("threshold"), "k--", label="threshold")
    row[1].set_title(f"layer {layer + 1}: goodness")
    row[1].legend(fontsize="small")

    row[2].plot(epochs, series("selected_fraction"), label="selected")
    for name in ("band", "very_hard", "top_up"):
      key = f"selected_by_{name}"
      if key in records[0]:
        row[2].plot(epochs, series(key), label=name.replace("_", " "))
    row[2].set_ylim(-0.02, 1.02)
    row[2].set_title(f"layer {layer + 1}: negatives selected")
    row[2].legend(fontsize="small")
    for axis in row:
      axis.set_xlabel("epoch")

  # Validation accuracy against cumulative epochs and wall time.
  bottom = axes[-1]
  if evaluations:
    steps, seconds, accuracy = validation_curve(workdir)
    bottom[0].plot(steps, accuracy, marker=".")
    bottom[0].set_xlabel("epochs, all layers")
    bottom[0].set_title("validation accuracy")
    bottom[1].plot(seconds, accuracy, marker=".")
    bottom[1].set_xlabel("training seconds")
    bottom[1].set_title("validation accuracy against time")
  bottom[2].axis("off")

  figure.tight_layout()
  path = os.path.join(workdir, "curves.png")
  figure.savefig(path, dpi=90)
  plt.close(figure)
  return path


def validation_curve(workdir: str) -> tuple[list, list, list]:
  """Cumulative epochs, training seconds and validation accuracy per
  evaluation, over all phases of a run."""
  _, evaluations = read_metrics(workdir)
  with open(os.path.join(workdir, "config.json")) as f:
    epochs_per_phase = json.load(f)["epochs"]
  steps, seconds, accuracy, total = [], [], [], 0.0
  for record in evaluations:
    done = record["phase"] * epochs_per_phase + record["epoch"]
    total += record["seconds_per_epoch"] * (done - (steps[-1] if steps else 0))
    steps.append(done)
    seconds.append(total)
    accuracy.append(record["validation_accuracy"])
  return steps, seconds, accuracy


def plot_comparison(workdirs: list[str], path: str) -> str:
  """Validation accuracy of each run against epochs and against time."""
  figure, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(11, 4))
  for workdir in workdirs:
    steps, seconds, accuracy = validation_curve(workdir)
    label = os.path.basename(os.path.normpath(workdir))
    by_epoch.plot(steps, accuracy, marker=".", label=label)
    by_time.plot(seconds, accuracy, marker=".", label=label)
  by_epoch.set_xlabel("epochs, all layers")
  by_time.set_xlabel("training seconds (compilation and evaluation excluded)")
  for axis in (by_epoch, by_time):
    axis.set_ylabel("validation accuracy (seed mean)")
    axis.legend(fontsize="small")
  figure.tight_layout()
  figure.savefig(path, dpi=90)
  plt.close(figure)
  return path


def main(argv: list[str]) -> None:
  usage = (
      "usage: python -m experiments.plot WORKDIR\n"
      "       python -m experiments.plot --compare OUT.png WORKDIR..."
  )
  if len(argv) >= 4 and argv[1] == "--compare":
    workdirs = argv[3:]
  elif len(argv) == 2:
    workdirs = argv[1:]
  else:
    raise SystemExit(usage)
  for workdir in workdirs:
    if not os.path.exists(os.path.join(workdir, "metrics.jsonl")):
      raise SystemExit(f"{workdir} holds no metrics.jsonl: is it a workdir?")
  if argv[1] == "--compare":
    print(plot_comparison(workdirs, argv[2]))
  else:
    print(plot_curves(argv[1]))


if __name__ == "__main__":
  main(sys.argv)
