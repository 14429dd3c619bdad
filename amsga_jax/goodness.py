"""Goodness of a layer's activity at three scales, and their depth mix.

A scale is read as the energy of the layer after average-pooling its `N`
neurons into `K` contiguous pools (eqs. 2-4):

    E_K(h) = (1/K) sum_k (mean_{j in P_k} h_j)^2

`K = N` is the per-neuron (local) goodness `mean_j h_j^2`, the baseline's;
`K = num_groups` the intermediate one; `K = 1` the global one
`(mean_j h_j)^2`. The local and global scales use their closed forms, which
equal `pooled_energy` with the identity and the all-mean pooling matrix.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np


class GoodnessScales(NamedTuple):
  """Goodness of each example at the three scales, each of shape [B]."""

  local: jnp.ndarray
  intermediate: jnp.ndarray
  global_: jnp.ndarray


def pooling_matrix(num_neurons: int, num_pools: int) -> np.ndarray:
  """The [N, K] matrix that averages `N` neurons into `K` contiguous pools.

  Pool sizes differ by at most one (the first `N mod K` pools hold one more
  neuron); column `k` holds `1 / |P_k|` on the rows of pool `k`.

  Example: `pooling_matrix(5, 2)` pools neurons {0, 1, 2} and {3, 4}, with
  entries 1/3 and 1/2.
  """
  if not 1 <= num_pools <= num_neurons:
    raise ValueError(
        f"num_pools={num_pools} must lie in [1, num_neurons={num_neurons}]."
    )
  sizes = np.full(num_pools, num_neurons // num_pools)
  sizes[: num_neurons % num_pools] += 1
  pool_of_neuron = np.repeat(np.arange(num_pools), sizes)
  matrix = np.zeros((num_neurons, num_pools), np.float32)
  matrix[np.arange(num_neurons), pool_of_neuron] = 1.0 / sizes[pool_of_neuron]
  return matrix


def pooled_energy(
    activations: jnp.ndarray, pooling: jnp.ndarray
) -> jnp.ndarray:
  """`E_K(h) = mean_k (h P)_k^2`: [B, N] activations, [N, K] pools -> [B]."""
  pooled = activations @ pooling
  return jnp.mean(jnp.square(pooled), axis=-1)


def pool_means(activations: jnp.ndarray, num_pools: int) -> jnp.ndarray:
  """Means of the `K` contiguous pools of `pooling_matrix`: [B, N] -> [B, K].

  The same numbers as `activations @ pooling_matrix(N, K)`, computed with
  two reshapes and means (the `N mod K` pools one neuron larger first,
  then the rest), which XLA fuses with the other reductions over the layer
  and whose gradient is a broadcast rather than a second product.
  """
  *batch, num_neurons = activations.shape
  if not 1 <= num_pools <= num_neurons:
    raise ValueError(
        f"num_pools={num_pools} must lie in [1, num_neurons={num_neurons}]."
    )
  size, num_larger = divmod(num_neurons, num_pools)
  split = num_larger * (size + 1)
  parts = [
      jnp.mean(part.reshape(*batch, count, part_size), axis=-1)
      for part, count, part_size in (
          (activations[..., :split], num_larger, size + 1),
          (activations[..., split:], num_pools - num_larger, size),
      )
      if count
  ]
  return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def local_goodness(activations: jnp.ndarray) -> jnp.ndarray:
  """Eq. 2, `mean_j h_j^2`: [B, N] -> [B]. The baseline's goodness."""
  return jnp.mean(jnp.square(activations), axis=-1)


def goodness_scales(
    activations: jnp.ndarray,
    *,
    num_groups: int,
    global_goodness: str = "example",
) -> GoodnessScales:
  """The local, intermediate and global goodness (eqs. 2-4).

  Args:
    activations: [B, N] ReLU activations of one layer.
    num_groups: `K`, the number of pools of the intermediate scale. When
      `N < 2 K` the pools would hold fewer than two neurons and the
      intermediate scale falls back to the local one.
    global_goodness: "example" reads eq. 4 per example,
      `(mean_j h_j)^2`; "batch" reads it as one value per batch, the batch
      mean of the local goodness, broadcast to every example.

  Returns:
    The three scales, each [B].
  """
  num_neurons = activations.shape[-1]
  local = local_goodness(activations)

  if num_neurons < 2 * num_groups:
    intermediate = local
  else:
    pooled = pool_means(activations, num_groups)
    intermediate = jnp.mean(jnp.square(pooled), axis=-1)

  if global_goodness == "example":
    global_ = jnp.square(jnp.mean(activations, axis=-1))
  elif global_goodness == "batch":
    global_ = jnp.broadcast_to(jnp.mean(local), local.shape)
  else:
    raise ValueError(
        f"global_goodness={global_goodness!r} is not 'example' or 'batch'."
    )
  return GoodnessScales(local, intermediate, global_)


def relative_depth(layer_index: int, num_layers: int) -> float:
  """`d_l = (l - 1) / (L - 1)` for the 0-based `layer_index = l - 1`.

  The first layer is at depth 0, the last at 1; a single layer is at 0.
  """
  if not 0 <= layer_index < num_layers:
    raise ValueError(
        f"layer_index={layer_index} must lie in [0, num_layers={num_layers})."
    )
  if num_layers == 1:
    return 0.0
  return layer_index / (num_layers - 1)


def depth_weights(
    layer_index: int,
    num_layers: int,
    *,
    first: tuple[float, float, float] = (0.5, 0.3, 0.2),
    last: tuple[float, float, float] = (0.2, 0.3, 0.5),
) -> tuple[float, float, float]:
  """Eq. 5: the (local, intermediate, global) weights of a layer.

  Each weight moves linearly with relative depth from its first-layer to
  its last-layer value: `alpha_l = alpha_first + (alpha_last - alpha_first)
  d_l`, and likewise `gamma_l`; `beta` is the same at every depth.

  Example: with the defaults and four layers, the second layer (`d = 1/3`)
  gets (0.4, 0.3, 0.3).
  """
  depth = relative_depth(layer_index, num_layers)
  return tuple(
      start + (end - start) * depth
      for start, end in zip(first, last, strict=True)
  )


def aggregate_goodness(
    scales: GoodnessScales, weights: tuple[float, float, float]
) -> jnp.ndarray:
  """Eq. 6, `G = alpha g_loc + beta g_int + gamma g_glob`: scales -> [B]."""
  alpha, beta, gamma = weights
  return (
      alpha * scales.local + beta * scales.intermediate + gamma * scales.global_
  )
