"""The same run on 1 and on 8 (simulated) devices gives the same result.

XLA's device count is fixed when JAX starts, so the comparison runs in a
fresh Python process with `--xla_force_host_platform_device_count=8`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent("""
    import jax
    import numpy as np

    from amsga_jax import Config, Position, Trainer
    from amsga_jax import data

    assert jax.device_count() == 8, jax.devices()
    dataset = data.load_dataset("digits")  # 1200 training images.

    for batch_size in (0, 200):
      config = Config(
          dataset="digits",
          layer_sizes=(64, 40, 24),
          epochs=3,
          batch_size=batch_size,
          learning_rate=0.03,
          eval_every=3,
          num_seeds=2,
      )
      finals = {}
      for parallel in (False, True):
        trainer = Trainer(config.replace(data_parallel=parallel), dataset)
        if parallel:
          assert len(trainer.train_images.sharding.device_set) == 8
        else:
          assert trainer.mesh is None
        state, _ = trainer.run(trainer.initial_state(), Position())
        finals[parallel] = (
            jax.tree.leaves(jax.device_get(state.params)),
            trainer.accuracy(state, "test"),
        )
      for single, sharded in zip(finals[False][0], finals[True][0]):
        np.testing.assert_allclose(single, sharded, rtol=1e-4, atol=2e-5)
      np.testing.assert_allclose(finals[False][1], finals[True][1], atol=0.01)
      print("batch_size", batch_size, "identical within float32 tolerance")
    """)


def test_one_and_eight_devices_agree():
  pytest.importorskip("sklearn")
  env = dict(os.environ)
  env["XLA_FLAGS"] = (
      env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
  )
  env["JAX_PLATFORMS"] = "cpu"
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")

  completed = subprocess.run(
      [sys.executable, "-c", _SCRIPT],
      env=env,
      capture_output=True,
      text=True,
      timeout=600,
  )

  assert completed.returncode == 0, completed.stderr[-3000:]
  assert completed.stdout.count("identical") == 2, completed.stdout
