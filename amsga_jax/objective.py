"""A layer's local objective: goodness, threshold, selected negatives, loss.

The loss of a layer is the logistic loss of eq. 1 on its positives and on
its selected negatives,

    loss = 1/2 mean_b softplus(theta - G+_b)
         + 1/2 sum_b m_b softplus(G-_b - theta) / sum_b m_b,

with `G` the layer's goodness (aggregated over scales when multi-scale
goodness is on), `theta` its threshold and `m` the curriculum mask (all ones
without the curriculum). Nothing here looks at another layer.

With `config.loss == "symmetric"` each image's positive and negative are
scored as a pair, with no threshold (SymBa, Lee and Song 2023):

    loss = sum_b m_b softplus(-alpha (G+_b - G-_b)) / sum_b m_b,

so the gradient pushes the two apart equally however far both sit from a
threshold. The threshold then only places the curriculum's band.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from amsga_jax import config as config_lib
from amsga_jax import curriculum
from amsga_jax import goodness as goodness_lib
from amsga_jax import thresholds


def layer_goodness(
    activations: jnp.ndarray,
    *,
    layer_index: int,
    config: config_lib.Config,
    for_prediction: bool = False,
) -> tuple[jnp.ndarray, goodness_lib.GoodnessScales | None]:
  """The goodness a layer is trained and judged by: [B, N] -> [B].

  Without multi-scale goodness this is the local goodness `mean_j h_j^2`.
  With it, eq. 6 with the depth weights of eq. 5. Under the "batch" reading
  of the global scale, prediction drops the global term: it is the same for
  every candidate label.

  Returns:
    `(G, scales)`; `scales` is None without multi-scale goodness.
  """
  if not config.multiscale:
    return goodness_lib.local_goodness(activations), None

  scales = goodness_lib.goodness_scales(
      activations,
      num_groups=config.num_groups,
      global_goodness=config.global_goodness,
  )
  alpha, beta, gamma = goodness_lib.depth_weights(
      layer_index,
      config.num_layers,
      first=config.weights_first_layer,
      last=config.weights_last_layer,
  )
  if for_prediction and config.global_goodness == "batch":
    gamma = 0.0
  return goodness_lib.aggregate_goodness(scales, (alpha, beta, gamma)), scales


def threshold_at(
    layer_index: int, progress: jnp.ndarray, config: config_lib.Config
) -> jnp.ndarray:
  """The layer's threshold at `progress`, per the config (eq. 11 or fixed)."""
  return thresholds.layer_threshold(
      layer_index,
      config.num_layers,
      progress,
      base=config.threshold,
      depth_increase=config.threshold_depth_increase,
      progress_increase=config.threshold_progress_increase,
      adaptive=config.adaptive_threshold,
  )


def layer_loss(
    positive_activations: jnp.ndarray,
    negative_activations: jnp.ndarray,
    *,
    threshold: jnp.ndarray,
    progress: jnp.ndarray,
    selection_key: jax.Array,
    layer_index: int,
    config: config_lib.Config,
) -> tuple[jnp.ndarray, dict[str, Any]]:
  """The loss of one layer on one batch, and what a researcher logs of it.

  Args:
    positive_activations: [B, N] activations of images with true labels.
    negative_activations: [B, N] activations of images with wrong labels.
    threshold: scalar `theta_l(p)`.
    progress: scalar `p = e / E`.
    selection_key: PRNG key of the curriculum's very-hard sampling.
    layer_index: 0-based layer index.
    config: the run's configuration.

  Returns:
    `(loss, metrics)`, metrics a dict of scalars with a fixed set of keys
    for a given config.
  """
  positive_goodness, positive_scales = layer_goodness(
      positive_activations, layer_index=layer_index, config=config
  )
  negative_goodness, negative_scales = layer_goodness(
      negative_activations, layer_index=layer_index, config=config
  )

  # Which negatives count: the curriculum's mask, or all of them.
  if config.curriculum:
    selection = curriculum.select_negatives(
        selection_key,
        negative_goodness,
        threshold,
        progress,
        stage_boundaries=config.stage_boundaries,
        band_widths=config.band_widths,
        very_hard_rate_middle=config.very_hard_rate_middle,
        very_hard_rate_late=config.very_hard_rate_late,
        min_selected_fraction=config.min_selected_fraction,
    )
    mask = selection.mask
  else:
    selection = None
    mask = jnp.ones_like(negative_goodness)

  # The logistic loss of eq. 1 on both halves, or the symmetric pair loss.
  selected_count = jnp.maximum(jnp.sum(mask), 1.0)
  if config.loss == "symmetric":
    margin = positive_goodness - negative_goodness
    pair_terms = jax.nn.softplus(-config.symmetric_alpha * margin)
    loss = jnp.sum(mask * pair_terms) / selected_count
  else:
    positive_loss = jnp.mean(jax.nn.softplus(threshold - positive_goodness))
    negative_terms = jax.nn.softplus(negative_goodness - threshold)
    negative_loss = jnp.sum(mask * negative_terms) / selected_count
    loss = 0.5 * (positive_loss + negative_loss)

  metrics = {
      "loss": loss,
      "goodness_positive": jnp.mean(positive_goodness),
      "goodness_negative": jnp.mean(negative_goodness),
      "threshold": threshold,
      "selected_fraction": jnp.mean(mask),
      "separation": jnp.mean(positive_goodness > threshold) * 0.5
      + jnp.mean(negative_goodness <= threshold) * 0.5,
  }
  if selection is not None:
    metrics["selected_by_band"] = jnp.mean(selection.band)
    metrics["selected_by_very_hard"] = jnp.mean(selection.very_hard)
    metrics["selected_by_top_up"] = jnp.mean(selection.top_up)
  if positive_scales is not None:
    for name, pos, neg in zip(
        ("local", "intermediate", "global"),
        positive_scales,
        negative_scales,
        strict=True,
    ):
      metrics[f"goodness_{name}_positive"] = jnp.mean(pos)
      metrics[f"goodness_{name}_negative"] = jnp.mean(neg)
  return loss, metrics
