"""Leave-one-out ablations: of the four AMSGA components, or of the
switches beyond the paper.

`python -m experiments.ablation --preset=quick --seeds=3` (`--study=amsga`)
trains, at the preset's budget and with the same seeds:

- `amsga`: all four components on;
- `no_<component>`: each component switched off in turn;
- `baseline_same_architecture`: all four off, AMSGA's architecture;
- `baseline_paper_recipe`: all four off, the paper's FF recipe
  (784-500-500, lr 0.03, theta 2.0) at the same budget.

`python -m experiments.ablation --study=beyond --preset=best_mnist` starts
from the preset (`best`) and undoes one switch at a time: uniform random
negatives (`random_negatives`), the thresholded loss of eq. 1
(`threshold_loss`), layer-by-layer training (`layerwise`, which also drops
input jitter and the softmax readout, since that schedule has neither),
prediction from every layer (`predict_from_all_layers`, when the preset
skips some), a constant learning rate (`no_warmup_cosine`, when it is on),
unshifted images (`no_shift`), no mirror images (`no_mirror`), prediction by
goodness instead of the readout (`goodness_readout`) or by the readout
instead of goodness (`plus_softmax_readout`); adds each AMSGA component it
leaves off (`plus_<component>`); and ends with plain FF on the same
architecture and budget (`plain_ff`).

Each variant runs in `WORKDIR/<variant>` through `run_experiment`, so an
interrupted ablation resumes where it stopped and finished variants are not
retrained. It writes `WORKDIR/ablation.md` (mean ± std accuracy, seconds
per epoch, the command of each row) and `WORKDIR/ablation.png`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys

from absl import app
from absl import flags
from absl import logging
import matplotlib

from amsga_jax import Config
from amsga_jax import data as data_lib
from experiments import flags as flags_lib
from experiments import run

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COMPONENTS = ("multiscale", "curriculum", "adaptive_threshold", "warmup_cosine")

flags_lib.define_flags()
flags.DEFINE_enum(
    "study",
    "amsga",
    ["amsga", "beyond"],
    "amsga: the four components; beyond: the switches beyond the paper.",
)
flags.DEFINE_boolean(
    "paper_baseline",
    True,
    "Also train the paper's FF recipe (784-500-500, lr 0.03, theta 2.0) at"
    " the same budget.",
)
flags.DEFINE_list(
    "variants",
    None,
    "Only these variants (default: all). Names as in the module docstring.",
)
FLAGS = flags.FLAGS


def ablation_variants(
    config: Config, *, paper_baseline: bool = True
) -> dict[str, Config]:
  """The ablation's configurations, keyed by variant name, in table order."""
  full = config.replace(**{name: True for name in COMPONENTS})
  variants = {"amsga": full}
  for name in COMPONENTS:
    variants[f"no_{name}"] = full.replace(**{name: False})
  baseline = full.replace(**{name: False for name in COMPONENTS})
  variants["baseline_same_architecture"] = baseline
  if paper_baseline:
    variants["baseline_paper_recipe"] = baseline.replace(
        layer_sizes=(config.layer_sizes[0], 500, 500),
        learning_rate=0.03,
        threshold=2.0,
    )
  return variants


_NO_JITTER_OR_READOUT = dict(shift_pixels=0, mirror=False, readout="goodness")


def beyond_variants(config: Config) -> dict[str, Config]:
  """Leave-one-out of the switches beyond the paper, in table order."""
  variants = {"best": config}
  if config.negative_labels != "random":
    variants["random_negatives"] = config.replace(negative_labels="random")
  if config.loss != "threshold":
    variants["threshold_loss"] = config.replace(loss="threshold")
  if config.schedule != "layerwise":
    variants["layerwise"] = config.replace(
        schedule="layerwise", **_NO_JITTER_OR_READOUT
    )
  if config.predict_from_layer:
    variants["predict_from_all_layers"] = config.replace(predict_from_layer=0)
  if config.warmup_cosine:
    variants["no_warmup_cosine"] = config.replace(warmup_cosine=False)
  if config.shift_pixels:
    variants["no_shift"] = config.replace(shift_pixels=0)
  if config.mirror:
    variants["no_mirror"] = config.replace(mirror=False)
  if config.readout == "softmax":
    variants["goodness_readout"] = config.replace(readout="goodness")
  elif config.schedule == "simultaneous":
    variants["plus_softmax_readout"] = config.replace(readout="softmax")
  for name in COMPONENTS:
    if not getattr(config, name):
      variants[f"plus_{name}"] = config.replace(**{name: True})
  variants["plain_ff"] = config.replace(
      negative_labels="random",
      loss="threshold",
      schedule="layerwise",
      predict_from_layer=0,
      **_NO_JITTER_OR_READOUT,
      **{name: False for name in COMPONENTS},
  )
  return variants


def _switches(config: Config) -> str:
  """The settings that tell variants apart, e.g. "warmup_cosine sampled"."""
  words = [name for name in COMPONENTS if getattr(config, name)]
  if config.negative_labels != "random":
    words.append(f"{config.negative_labels} negatives")
  if config.loss != "threshold":
    words.append(f"{config.loss} loss")
  if config.schedule != "layerwise":
    words.append(config.schedule)
  if config.predict_from_layer:
    words.append(f"predict from layer {config.predict_from_layer + 1}")
  if config.shift_pixels:
    words.append(f"shifts of {config.shift_pixels} px")
  if config.mirror:
    words.append("mirror images")
  if config.readout != "goodness":
    words.append(f"{config.readout} readout")
  return ", ".join(words) or "-"


def _cell(summary: dict) -> str:
  return f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f}"


def write_table(
    results: dict[str, dict], path: str, *, command: str, machine: str
) -> None:
  """Writes the ablation's Markdown table to `path`."""
  lines = [
      "| variant | layers | switches on | validation % | test % |"
      " s/epoch per layer |",
      "|---|---|---|---|---|---|",
  ]
  for name, result in results.items():
    config = Config.from_dict(result["config"])
    seconds = " / ".join(f"{s:.2f}" for s in result["seconds_per_epoch"])
    lines.append(
        f"| {name} | {'-'.join(map(str, config.layer_sizes))} |"
        f" {_switches(config)} | {_cell(result['validation_accuracy'])} |"
        f" {_cell(result['test_accuracy'])} | {seconds} |"
    )
  first = Config.from_dict(next(iter(results.values()))["config"])
  budget = (
      "one full batch"
      if first.is_full_batch
      else f"mini-batches of {first.batch_size}"
  )
  lines += [
      "",
      f"{first.dataset}, {first.epochs} epochs per layer, {budget},"
      f" {first.num_seeds} seeds ({first.seed}..."
      f"{first.seed + first.num_seeds - 1}), mean ± std over seeds."
      f" Machine: {machine}.",
      "",
      f"Command: `{command}`",
  ]
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")


def plot_bars(results: dict[str, dict], path: str) -> None:
  """A bar chart of mean ± std test accuracy per variant."""
  names = list(results)
  means = [100 * results[n]["test_accuracy"]["mean"] for n in names]
  stds = [100 * results[n]["test_accuracy"]["std"] for n in names]
  figure, axis = plt.subplots(figsize=(1.3 * len(names) + 2, 4))
  axis.bar(range(len(names)), means, yerr=stds, capsize=4, color="tab:blue")
  axis.set_xticks(range(len(names)))
  axis.set_xticklabels(names, rotation=30, ha="right")
  axis.set_ylabel("test accuracy (%)")
  low = min(m - s for m, s in zip(means, stds, strict=True))
  axis.set_ylim(max(0.0, low - 2), min(100.0, max(means) + 2))
  figure.tight_layout()
  figure.savefig(path, dpi=90)
  plt.close(figure)


def run_ablation(
    config: Config,
    workdir: str,
    *,
    data_dir: str | None = None,
    download: bool = False,
    paper_baseline: bool = True,
    study: str = "amsga",
    only: list[str] | None = None,
    progress: bool = True,
    command: str = "",
) -> dict[str, dict]:
  """Trains every variant (resuming any unfinished one); writes the table."""
  if study == "beyond":
    variants = beyond_variants(config)
  else:
    variants = ablation_variants(config, paper_baseline=paper_baseline)
  if only:
    unknown = sorted(set(only) - set(variants))
    if unknown:
      raise ValueError(f"Unknown variants {unknown}; known: {list(variants)}.")
    variants = {k: v for k, v in variants.items() if k in only}

  dataset = run.load_data(config, data_dir=data_dir, download=download)
  results = {}
  for name, variant in variants.items():
    variant_dir = os.path.join(workdir, name)
    results_path = os.path.join(variant_dir, "results.json")
    if os.path.exists(results_path):
      with open(results_path) as f:
        finished = json.load(f)
      if not run.config_differences(finished["config"], variant):
        logging.info("%s: finished earlier, reusing its results.", name)
        results[name] = finished
        continue
    logging.info("Training variant %s.", name)
    results[name] = run.run_experiment(
        variant, variant_dir, dataset=dataset, progress=progress
    )

  environment = run.environment()
  machine = (
      f"{environment['backend']} ({environment['device_kind']},"
      f" {environment['processor_count']} cores), jax"
      f" {environment['jax_version']}"
  )
  write_table(
      results,
      os.path.join(workdir, "ablation.md"),
      command=command,
      machine=machine,
  )
  plot_bars(results, os.path.join(workdir, "ablation.png"))
  return results


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  try:
    config = flags_lib.config_from_flags(FLAGS)
    workdir = FLAGS.workdir or os.path.join("runs", f"ablation-{FLAGS.preset}")
    run_ablation(
        config,
        workdir,
        data_dir=FLAGS.data_dir,
        download=FLAGS.download,
        paper_baseline=FLAGS.paper_baseline,
        study=FLAGS.study,
        only=FLAGS.variants,
        progress=FLAGS.progress,
        command="python -m experiments.ablation " + shlex.join(sys.argv[1:]),
    )
  except (ValueError, data_lib.DataError) as error:
    raise SystemExit(f"error: {error}") from None
  except run.RunInterrupted as stopped:
    logging.warning("%s", stopped)
    raise SystemExit(0) from None
  print(open(os.path.join(workdir, "ablation.md")).read())


if __name__ == "__main__":
  app.run(main)
