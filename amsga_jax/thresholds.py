"""The goodness threshold of a layer, fixed or adaptive (eqs. 1 and 11)."""

from __future__ import annotations

import jax.numpy as jnp

from amsga_jax import goodness


def layer_threshold(
    layer_index: int,
    num_layers: int,
    progress: jnp.ndarray,
    *,
    base: float,
    depth_increase: float = 0.2,
    progress_increase: float = 0.1,
    adaptive: bool = True,
) -> jnp.ndarray:
  """Eq. 11, `theta_l(p) = theta_0 (1 + delta_depth d_l) (1 + delta_prog p)`.

  Args:
    layer_index: 0-based index of the layer, `l - 1`.
    num_layers: `L`, the number of hidden layers.
    progress: scalar training progress `p = e / E` in [0, 1].
    base: `theta_0`.
    depth_increase: `delta_depth`, the rise from the first to the last layer.
    progress_increase: `delta_prog`, the rise over a layer's training.
    adaptive: when False, the baseline's fixed threshold `theta_0`.

  Returns:
    The scalar threshold. Example: `theta_0 = 2`, four layers, the third
    layer (`d = 2/3`) at `p = 0.5` gives `2 * (1 + 0.2 * 2/3) * 1.05 = 2.38`.
  """
  progress = jnp.asarray(progress, jnp.float32)
  if not adaptive:
    return jnp.full_like(progress, base)
  depth = goodness.relative_depth(layer_index, num_layers)
  return (
      base * (1 + depth_increase * depth) * (1 + progress_increase * progress)
  )
