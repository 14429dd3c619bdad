"""The learning-rate schedule (eqs. 12-13) and the per-layer optimiser."""

from __future__ import annotations

import optax


def learning_rate_schedule(
    peak_value: float,
    total_steps: int,
    *,
    warmup_cosine: bool = True,
    warmup_fraction: float = 0.1,
    final_fraction: float = 0.01,
) -> optax.Schedule:
  """Linear warm-up to `eta`, then cosine annealing to `final_fraction eta`.

  For `t < T_w = round(warmup_fraction T)`: `eta t / T_w`; after it:
  `eta_min + (eta - eta_min) (1 + cos(pi (t - T_w) / (T - T_w))) / 2`.
  This is optax's `warmup_cosine_decay_schedule`. With `warmup_cosine`
  False the rate is the constant `eta`.

  Example: `eta = 0.04`, `T = 1500`: 0 at step 0, 0.04 at step 150, 0.0004
  at step 1500.

  Args:
    peak_value: `eta`.
    total_steps: `T`, the number of updates the layer receives.
    warmup_cosine: whether to use the schedule at all.
    warmup_fraction: `T_w / T`.
    final_fraction: `eta_min / eta`.
  """
  if not warmup_cosine:
    return optax.constant_schedule(peak_value)
  warmup_steps = int(round(warmup_fraction * total_steps))
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0,
      peak_value=peak_value,
      warmup_steps=warmup_steps,
      decay_steps=max(total_steps, warmup_steps + 1),
      end_value=final_fraction * peak_value,
  )


def layer_optimizer(
    schedule: optax.Schedule,
    *,
    clip_norm: float = 0.3,
    b1: float = 0.9,
    b2: float = 0.999,
) -> optax.GradientTransformation:
  """Adam after clipping the layer's gradient to global norm `clip_norm`."""
  return optax.chain(
      optax.clip_by_global_norm(clip_norm),
      optax.adam(schedule, b1=b1, b2=b2),
  )
