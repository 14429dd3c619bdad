"""The adaptive threshold (eq. 11) and the learning-rate schedule (12-13)."""

import math

import chex
import jax.numpy as jnp
import optax
import pytest

from amsga_jax import Config
from amsga_jax import objective
from amsga_jax import schedules
from amsga_jax import thresholds


@pytest.mark.parametrize(
    "layer_index, num_layers, progress, base, expected",
    [
        # theta = theta_0 (1 + 0.2 d) (1 + 0.1 p).
        pytest.param(0, 4, 0.0, 2.0, 2.0, id="first_layer_start"),
        # d = 1: 2 * 1.2 = 2.4.
        pytest.param(3, 4, 0.0, 2.0, 2.4, id="last_layer_start"),
        # d = 2/3, p = 0.5: 2 * (1 + 0.4/3) * 1.05 = 2.38.
        pytest.param(2, 4, 0.5, 2.0, 2.38, id="third_of_4_halfway"),
        # d = 1, p = 0.9: 2 * 1.2 * 1.09 = 2.616.
        pytest.param(3, 4, 0.9, 2.0, 2.616, id="last_of_4_late"),
        # L = 1, so d = 0; p = 0.5: 2 * 1.05 = 2.1.
        pytest.param(0, 1, 0.5, 2.0, 2.1, id="single_layer"),
        # d = 1, p = 0.25, theta_0 = 2.5: 2.5 * 1.2 * 1.025 = 3.075.
        pytest.param(1, 2, 0.25, 2.5, 3.075, id="base_2.5"),
    ],
)
def test_adaptive_threshold_by_hand(
    layer_index, num_layers, progress, base, expected
):
  threshold = thresholds.layer_threshold(
      layer_index, num_layers, jnp.float32(progress), base=base
  )

  chex.assert_shape(threshold, ())
  chex.assert_trees_all_close(threshold, jnp.float32(expected), rtol=1e-6)


def test_threshold_custom_increases():
  # theta_0 = 1, delta_depth = 0.5, delta_prog = 1, d = 1/2, p = 0.5:
  # 1 * 1.25 * 1.5 = 1.875.
  threshold = thresholds.layer_threshold(
      1,
      3,
      jnp.float32(0.5),
      base=1.0,
      depth_increase=0.5,
      progress_increase=1.0,
  )

  chex.assert_trees_all_close(threshold, jnp.float32(1.875), rtol=1e-6)


@pytest.mark.parametrize(
    "layer_index, progress", [(0, 0.0), (1, 0.5), (3, 0.9), (2, 0.99)]
)
def test_threshold_is_fixed_when_not_adaptive(layer_index, progress):
  threshold = thresholds.layer_threshold(
      layer_index, 4, jnp.float32(progress), base=2.0, adaptive=False
  )

  chex.assert_shape(threshold, ())
  chex.assert_type(threshold, jnp.float32)
  chex.assert_trees_all_close(threshold, jnp.float32(2.0))


@pytest.mark.parametrize(
    "adaptive, expected",
    [
        # Third of four layers at p = 0.5, theta_0 = 2: 2.38 (see above).
        pytest.param(True, 2.38, id="adaptive"),
        pytest.param(False, 2.0, id="fixed"),
    ],
)
def test_threshold_at_reads_the_config(adaptive, expected):
  config = Config(layer_sizes=(20, 8, 8, 8, 8), adaptive_threshold=adaptive)

  threshold = objective.threshold_at(2, jnp.float32(0.5), config)

  chex.assert_trees_all_close(threshold, jnp.float32(expected), rtol=1e-6)


def _hand_schedule(step, peak, total, warmup_fraction=0.1, final=0.01):
  """Eqs. 12-13 written out: linear warm-up, then cosine to `final * peak`.

  Args:
    step: `t`.
    peak: `eta`.
    total: `T`.
    warmup_fraction: `T_w / T`.
    final: `eta_min / eta`.

  Returns:
    The learning rate at step `t`, a float.
  """
  warmup = round(warmup_fraction * total)
  if step < warmup:
    return peak * step / warmup
  low = final * peak
  angle = math.pi * (step - warmup) / (total - warmup)
  return low + 0.5 * (peak - low) * (1 + math.cos(angle))


@pytest.mark.parametrize(
    "step, expected",
    [
        # eta = 0.04, T = 1500, T_w = 150, eta_min = 0.0004.
        pytest.param(0, 0.0, id="start"),
        pytest.param(75, 0.02, id="half_warmup"),
        pytest.param(150, 0.04, id="peak"),
        # Halfway through the cosine, t = 150 + 675: eta_min + (eta -
        # eta_min) / 2 = 0.0004 + 0.0198 = 0.0202.
        pytest.param(825, 0.0202, id="half_cosine"),
        pytest.param(1500, 0.0004, id="end"),
    ],
)
def test_warmup_cosine_by_hand(step, expected):
  schedule = schedules.learning_rate_schedule(0.04, 1500)

  chex.assert_trees_all_close(
      schedule(step), jnp.float32(expected), rtol=1e-5, atol=1e-9
  )


@pytest.mark.parametrize(
    "peak, total",
    [
        pytest.param(0.03, 1000, id="T1000"),
        pytest.param(0.05, 2500, id="T2500"),
        pytest.param(0.04, 300, id="T300"),
    ],
)
def test_warmup_cosine_follows_the_formula(peak, total):
  steps = [0, 1, total // 20, total // 10, total // 2, total - 1, total]

  rates = [schedules.learning_rate_schedule(peak, total)(t) for t in steps]

  expected = [_hand_schedule(t, peak, total) for t in steps]
  chex.assert_trees_all_close(rates, expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("step", [0, 10, 150, 1000, 1500])
def test_schedule_off_is_constant(step):
  schedule = schedules.learning_rate_schedule(0.04, 1500, warmup_cosine=False)

  chex.assert_trees_all_close(schedule(step), jnp.float32(0.04))


def test_layer_optimizer_clips_before_adam():
  # Adam is blind to a common scale of its gradients, so the clip shows only
  # when it scales one step and not another. Steps: g1 = (3, 4), norm 5,
  # clipped to norm 0.3: (0.18, 0.24); g2 = (0.1, 0), norm 0.1, kept.
  # Adam by hand (b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = 1), second step:
  #   m2 = 0.9 * 0.1 * g1c + 0.1 * g2,  v2 = 0.999 * 0.001 * g1c^2 + 0.001 g2^2
  #   update = -(m2 / (1 - 0.9^2)) / (sqrt(v2 / (1 - 0.999^2)) + eps)
  first, second = jnp.array([3.0, 4.0]), jnp.array([0.1, 0.0])
  clipped = first * 0.3 / 5.0
  m2 = 0.9 * 0.1 * clipped + 0.1 * second
  v2 = 0.999 * 0.001 * clipped**2 + 0.001 * second**2
  expected = -(m2 / (1 - 0.9**2)) / (jnp.sqrt(v2 / (1 - 0.999**2)) + 1e-8)
  optimizer = schedules.layer_optimizer(optax.constant_schedule(1.0))
  params = jnp.zeros(2)

  state = optimizer.init(params)
  _, state = optimizer.update(first, state, params)
  update, _ = optimizer.update(second, state, params)

  chex.assert_trees_all_close(update, expected, rtol=1e-4)
  # Unclipped, the same formula gives about (-0.69, -0.67) instead.
  m2 = 0.9 * 0.1 * first + 0.1 * second
  v2 = 0.999 * 0.001 * first**2 + 0.001 * second**2
  unclipped = -(m2 / (1 - 0.9**2)) / jnp.sqrt(v2 / (1 - 0.999**2))
  assert float(jnp.max(jnp.abs(update - unclipped))) > 0.1
