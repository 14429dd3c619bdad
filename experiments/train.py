"""Trains one configuration: `python -m experiments.train [--preset=...]`.

With no flags: a short AMSGA run on MNIST (`--preset=quick`). See
`experiments/presets.py` for the paper's settings and `--helpfull` for
every flag. Rerunning a command with the same `--workdir` resumes it.
"""

from __future__ import annotations

import os
import shlex
import sys

from absl import app
from absl import flags
from absl import logging
import jax

from amsga_jax import data as data_lib
from experiments import flags as flags_lib
from experiments import run

flags_lib.define_flags()
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if FLAGS.distributed:
    jax.distributed.initialize()
    logging.info(
        "Process %d of %d; %d devices in all.",
        jax.process_index(),
        jax.process_count(),
        jax.device_count(),
    )
  try:
    config = flags_lib.config_from_flags(FLAGS)
    workdir = FLAGS.workdir or os.path.join("runs", FLAGS.preset)
    results = run.run_experiment(
        config,
        workdir,
        data_dir=FLAGS.data_dir,
        download=FLAGS.download,
        progress=FLAGS.progress,
        command="python -m experiments.train " + shlex.join(sys.argv[1:]),
    )
  except (ValueError, data_lib.DataError) as error:
    logging.error("%s", error)
    raise SystemExit(f"error: {error}") from None
  except run.RunInterrupted as stopped:
    logging.warning("%s", stopped)
    raise SystemExit(0) from None
  test = results["test_accuracy"]
  print(
      f"test accuracy {test['mean']:.4f} ± {test['std']:.4f} over"
      f" {len(results['seeds'])} seed(s); results in {workdir}/results.json"
  )


if __name__ == "__main__":
  app.run(main)
