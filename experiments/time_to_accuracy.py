"""How long runs took to reach a validation accuracy, from their workdirs.

`python -m experiments.time_to_accuracy --target=0.9345 WORKDIR...` reads
each run's `metrics.jsonl` and `results.json` and prints a Markdown table:
the first evaluation at which the seed-mean validation accuracy reached the
target (epochs over all layers, and the training seconds up to it,
compilation and evaluation excluded), the run's whole wall time, and its
final validation and test accuracy. The crossing is judged on validation,
so the test set chooses nothing; a run still training is read as far as it
got.
"""

from __future__ import annotations

import json
import os
from typing import Any

from absl import app
from absl import flags

from experiments import plot

flags.DEFINE_float(
    "target",
    0.9345,
    "Validation accuracy to reach, a fraction (default: the paper's AMSGA"
    " MNIST test accuracy).",
)
FLAGS = flags.FLAGS


def time_to_accuracy(workdir: str, target: float) -> dict[str, Any]:
  """When a run's validation accuracy first reached `target`.

  Returns:
    "run" (the workdir's name), "reached" (bool), "epochs" and
    "training_seconds" at the first evaluation at or above the target (None
    if never), "best_validation", and, once the run has finished,
    "total_seconds", "validation" and "test" from its `results.json`.
  """
  if not 0 < target <= 1:
    raise ValueError(f"target={target} must be a fraction in (0, 1].")
  if not os.path.exists(os.path.join(workdir, "metrics.jsonl")):
    raise ValueError(f"{workdir} holds no metrics.jsonl: is it a workdir?")
  epochs, seconds, accuracy = plot.validation_curve(workdir)
  if not accuracy:
    raise ValueError(f"{workdir} has no evaluation yet.")

  crossing = next(
      (index for index, value in enumerate(accuracy) if value >= target), None
  )
  record = {
      "run": os.path.basename(os.path.normpath(workdir)),
      "reached": crossing is not None,
      "epochs": None if crossing is None else epochs[crossing],
      "training_seconds": None if crossing is None else seconds[crossing],
      "best_validation": max(accuracy),
      "total_seconds": None,
      "validation": None,
      "test": None,
  }
  results_path = os.path.join(workdir, "results.json")
  if os.path.exists(results_path):
    with open(results_path) as f:
      results = json.load(f)
    record["total_seconds"] = results["total_seconds"]
    record["validation"] = results["validation_accuracy"]["mean"]
    record["test"] = results["test_accuracy"]["mean"]
  return record


def format_table(records: list[dict[str, Any]], target: float) -> str:
  """The records as a Markdown table."""

  def percent(value):
    return "-" if value is None else f"{100 * value:.2f}"

  def number(value, digits=0):
    return "-" if value is None else f"{value:.{digits}f}"

  lines = [
      f"| run | validation >= {100 * target:.2f}% at epoch (all layers) |"
      " training seconds to it | whole run, seconds | best validation % |"
      " final validation % | final test % |",
      "|---|---|---|---|---|---|---|",
  ]
  for record in records:
    reached = record["reached"]
    lines.append(
        f"| {record['run']} |"
        f" {record['epochs'] if reached else 'not reached'} |"
        f" {number(record['training_seconds'])} |"
        f" {number(record['total_seconds'])} |"
        f" {percent(record['best_validation'])} |"
        f" {percent(record['validation'])} | {percent(record['test'])} |"
    )
  return "\n".join(lines)


def main(argv: list[str]) -> None:
  workdirs = argv[1:]
  if not workdirs:
    raise app.UsageError("Give one or more workdirs.")
  try:
    records = [time_to_accuracy(w, FLAGS.target) for w in workdirs]
  except ValueError as error:
    raise SystemExit(f"error: {error}") from None
  print(format_table(records, FLAGS.target))


if __name__ == "__main__":
  app.run(main)
