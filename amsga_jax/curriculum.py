"""Curriculum selection of negatives (eqs. 7-10) as a 0/1 mask.

Each epoch a layer scores its `B` negative candidates with its goodness
`G-` and threshold `theta`. With `omega` the band's half-width as a fraction
of `theta`, a candidate is

- in the band when `|G- - theta| <= omega theta`;
- very hard when `G- > theta (1 + omega)`: the layer calls it positive.

The stages, by training progress `p`:

- early, `p < p1` (eq. 7): the band, `omega` growing from `omega_0` to
  `omega_1`;
- middle, `p1 <= p < p2` (eqs. 8-9): the band, `omega` growing from
  `omega_1` to `omega_2`, plus each very hard candidate with probability
  `r_mid`;
- late, `p >= p2` (eq. 10): the band at `omega_3`, plus each very hard
  candidate with probability `r_late`.

If fewer than `ceil(rho B)` are selected, the hardest unselected candidates
(largest `G-`) are added until exactly that many are. The mask keeps every
shape static and carries no gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from amsga_jax import config as config_lib


class Selection(NamedTuple):
  """A curriculum mask and where its members came from; all [B] float32.

  `mask = band + very_hard + top_up`, the three disjoint.
  """

  mask: jnp.ndarray
  band: jnp.ndarray
  very_hard: jnp.ndarray
  top_up: jnp.ndarray


def band_half_width(
    progress: jnp.ndarray,
    *,
    stage_boundaries: tuple[float, float] = (0.3, 0.7),
    band_widths: tuple[float, float, float, float] = (0.2, 0.4, 0.6, 0.8),
) -> jnp.ndarray:
  """`omega(p)`, the band's half-width as a fraction of the threshold.

  Linear from `omega_0` to `omega_1` over `[0, p1)`, from `omega_1` to
  `omega_2` over `[p1, p2)`, then `omega_3`. With the defaults:
  `omega(0) = 0.2`, `omega(0.15) = 0.3`, `omega(0.5) = 0.5`,
  `omega(0.7) = 0.8`.
  """
  p1, p2 = stage_boundaries
  w0, w1, w2, w3 = band_widths
  early = w0 + (w1 - w0) * progress / max(p1, 1e-12)
  middle = w1 + (w2 - w1) * (progress - p1) / max(p2 - p1, 1e-12)
  return jnp.where(progress < p1, early, jnp.where(progress < p2, middle, w3))


def very_hard_rate(
    progress: jnp.ndarray,
    *,
    stage_boundaries: tuple[float, float] = (0.3, 0.7),
    very_hard_rate_middle: float = 0.1,
    very_hard_rate_late: float = 0.3,
) -> jnp.ndarray:
  """The probability of keeping a very hard negative: 0, `r_mid`, `r_late`."""
  p1, p2 = stage_boundaries
  return jnp.where(
      progress < p1,
      0.0,
      jnp.where(progress < p2, very_hard_rate_middle, very_hard_rate_late),
  )


def select_negatives(
    key: jax.Array,
    negative_goodness: jnp.ndarray,
    threshold: jnp.ndarray,
    progress: jnp.ndarray,
    *,
    stage_boundaries: tuple[float, float] = (0.3, 0.7),
    band_widths: tuple[float, float, float, float] = (0.2, 0.4, 0.6, 0.8),
    very_hard_rate_middle: float = 0.1,
    very_hard_rate_late: float = 0.3,
    min_selected_fraction: float = 0.25,
) -> Selection:
  """The curriculum mask over one batch of negative candidates.

  Args:
    key: PRNG key for the very-hard sampling; fold it with the layer and
      epoch so a resumed run draws the same candidates.
    negative_goodness: [B] goodness `G-` of the candidates. Treated as a
      constant: no gradient flows through the selection.
    threshold: scalar `theta` of the layer at this point of training.
    progress: scalar `p` in [0, 1].
    stage_boundaries: `(p1, p2)`.
    band_widths: `(omega_0, omega_1, omega_2, omega_3)`.
    very_hard_rate_middle: `r_mid`.
    very_hard_rate_late: `r_late`.
    min_selected_fraction: `rho`; at least `ceil(rho B)` are selected.

  Returns:
    A `Selection` of [B] float32 0/1 masks.
  """
  goodness = jax.lax.stop_gradient(negative_goodness)
  num_candidates = goodness.shape[0]
  min_count = config_lib.min_selected_count(
      min_selected_fraction, num_candidates
  )

  # Band and very hard candidates, at this stage's half-width.
  omega = band_half_width(
      progress, stage_boundaries=stage_boundaries, band_widths=band_widths
  )
  in_band = jnp.abs(goodness - threshold) <= omega * threshold
  is_very_hard = goodness > threshold * (1 + omega)

  # Very hard candidates kept independently with the stage's rate.
  rate = very_hard_rate(
      progress,
      stage_boundaries=stage_boundaries,
      very_hard_rate_middle=very_hard_rate_middle,
      very_hard_rate_late=very_hard_rate_late,
  )
  kept = jax.random.uniform(key, goodness.shape) < rate
  very_hard = is_very_hard & kept
  selected = in_band | very_hard

  # Top-up: the hardest unselected candidates until `min_count` are chosen.
  deficit = jnp.maximum(min_count - jnp.sum(selected), 0)
  top_up = jnp.zeros_like(selected)
  if min_count > 0:
    score = jnp.where(selected, -jnp.inf, goodness)
    _, hardest = jax.lax.top_k(score, min_count)
    top_up = top_up.at[hardest].set(jnp.arange(min_count) < deficit)

  as_float = lambda m: m.astype(jnp.float32)
  return Selection(
      mask=as_float(selected | top_up),
      band=as_float(in_band),
      very_hard=as_float(very_hard),
      top_up=as_float(top_up),
  )
