"""Lower matmul precision changes a short run's accuracy only a little."""

from __future__ import annotations

import pytest

from amsga_jax import Config
from amsga_jax import Position
from amsga_jax import Trainer
from amsga_jax import data as data_lib

# The largest change in test accuracy accepted from a lower precision on
# this run (digits, two layers, 20 epochs of mini-batches).
TOLERANCE = 0.05


def _test_accuracy(precision: str, dataset) -> float:
  config = Config(
      dataset="digits",
      layer_sizes=(64, 100, 100),
      epochs=20,
      batch_size=100,
      learning_rate=0.03,
      eval_every=20,
      multiscale=False,
      curriculum=False,
      adaptive_threshold=False,
      warmup_cosine=False,
      matmul_precision=precision,
  )
  trainer = Trainer(config, dataset)
  state, _ = trainer.run(trainer.initial_state(), Position())
  return float(trainer.accuracy(state, "test")[0, -1])


@pytest.mark.parametrize("precision", ["bfloat16", "tensorfloat32"])
def test_lower_precision_stays_within_tolerance(precision):
  pytest.importorskip("sklearn")
  dataset = data_lib.load_dataset("digits")

  full = _test_accuracy("float32", dataset)
  lower = _test_accuracy(precision, dataset)

  assert full > 0.8, full
  assert abs(full - lower) <= TOLERANCE, (full, lower)
