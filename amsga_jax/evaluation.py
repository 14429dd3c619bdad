"""Prediction by goodness over every candidate label, and accuracy.

An image is scored under each of the `C` labels; each layer's goodness of
each candidate is computed (its aggregated goodness when multi-scale
goodness is on), and the label whose goodness summed over layers is largest
wins. With `config.predict_from_layer = f > 0` the sum skips the first `f`
layers once the network is deeper than `f` (Hinton's practice of ignoring
the first hidden layer). The `C` candidates are independent: a `vmap` over
them, sharing the first layer's label-independent product (see `layers`).

With `config.readout = "softmax"` the score of a label is instead the
log-probability the layers' linear classifiers give it from one
neutral-label pass (`readout`), summed over the same layers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from amsga_jax import config as config_lib
from amsga_jax import layers
from amsga_jax import objective
from amsga_jax import readout


def candidate_goodness(
    network: list[layers.Params],
    images: jnp.ndarray,
    *,
    config: config_lib.Config,
    num_classes: int,
    hot_value: float,
) -> jnp.ndarray:
  """Each layer's goodness of each image under each candidate label.

  Args:
    network: layer parameters, first layer first (any number of layers).
    images: [B, D] standardised images.
    config: the run's configuration (goodness settings).
    num_classes: `C`.
    hot_value: the label embedding's hot value.

  Returns:
    [B, C, L] goodness, `L = len(network)`.
  """
  products = layers.first_layer_products(
      network[0],
      images,
      num_classes=num_classes,
      hot_value=hot_value,
      epsilon=config.norm_epsilon,
  )

  def for_label(label):
    labels = jnp.full(images.shape[:1], label, jnp.int32)
    activity = layers.first_layer_activations(
        network[0], products, labels, num_classes=num_classes
    )
    per_layer = []
    for layer_index, params in enumerate(network):
      if layer_index > 0:
        activity = layers.hidden_layer(
            params, layers.normalize_direction(activity, config.norm_epsilon)
        )
      goodness, _ = objective.layer_goodness(
          activity,
          layer_index=layer_index,
          config=config,
          for_prediction=True,
      )
      per_layer.append(goodness)
    return jnp.stack(per_layer, axis=-1)

  by_label = jax.vmap(for_label)(jnp.arange(num_classes))  # [C, B, L]
  return jnp.transpose(by_label, (1, 0, 2))


def candidate_scores(
    network: list[layers.Params],
    images: jnp.ndarray,
    *,
    config: config_lib.Config,
    num_classes: int,
    hot_value: float,
) -> jnp.ndarray:
  """What prediction compares, per layer: [B, C, L].

  Goodness (`candidate_goodness`), or with `config.readout = "softmax"`
  the layers' readout log-probabilities
  (`readout.candidate_log_probabilities`).
  """
  if config.readout == "softmax":
    return readout.candidate_log_probabilities(
        network,
        images,
        num_classes=num_classes,
        hot_value=hot_value,
        epsilon=config.norm_epsilon,
    )
  return candidate_goodness(
      network,
      images,
      config=config,
      num_classes=num_classes,
      hot_value=hot_value,
  )


def summed_goodness_by_depth(
    goodness: jnp.ndarray, first_layer: int = 0
) -> jnp.ndarray:
  """The score a network of the first `k` layers gives each label.

  Args:
    goodness: [..., L] per-layer goodness.
    first_layer: 0-based layer the sum starts at once `k > first_layer`;
      shallower networks sum all their layers.

  Returns:
    [..., L]; entry `k - 1` sums layers `first_layer..k-1` (0-based) when
    `k > first_layer`, else layers `0..k-1`.
  """
  cumulative = jnp.cumsum(goodness, axis=-1)
  if first_layer == 0:
    return cumulative
  skipped = cumulative[..., first_layer - 1 : first_layer]
  depth = jnp.arange(goodness.shape[-1])
  return jnp.where(depth >= first_layer, cumulative - skipped, cumulative)


def accuracy_by_depth(
    goodness: jnp.ndarray, labels: jnp.ndarray, first_layer: int = 0
) -> jnp.ndarray:
  """Accuracy of predicting from the first `k` layers, for each `k`.

  Args:
    goodness: [B, C, L] per-layer goodness of each candidate label.
    labels: [B] true labels.
    first_layer: see `summed_goodness_by_depth`.

  Returns:
    [L] accuracies; entry `k - 1` sums the goodness of layers 1..k (from
    layer `first_layer + 1` on once `k > first_layer`).
  """
  scores = summed_goodness_by_depth(goodness, first_layer)
  predictions = jnp.argmax(scores, axis=1)  # [B, L]
  return jnp.mean(predictions == labels[:, None], axis=0)


def evaluate_in_batches(
    network: list[layers.Params],
    images: jnp.ndarray,
    labels: jnp.ndarray,
    *,
    config: config_lib.Config,
    num_classes: int,
    hot_value: float,
    batch_size: int = 5000,
) -> jnp.ndarray:
  """`accuracy_by_depth` over a whole split, `batch_size` images at a time.

  Bounds memory at `batch_size * C` activations per layer. Traceable: use
  inside `jit`.

  Args:
    network: layer parameters, first layer first.
    images: [B, D] images.
    labels: [B] labels.
    config: the run's configuration.
    num_classes: `C`.
    hot_value: the label embedding's hot value.
    batch_size: images scored at once.

  Returns:
    [L] accuracy from the first `k` layers, for each `k`.
  """
  num_examples = images.shape[0]
  batch_size = min(batch_size, num_examples)
  num_batches = -(-num_examples // batch_size)
  padding = num_batches * batch_size - num_examples
  padded = jnp.pad(images, ((0, padding), (0, 0)))
  batches = padded.reshape(num_batches, batch_size, images.shape[1])

  goodness = jax.lax.map(
      lambda batch: candidate_scores(
          network,
          batch,
          config=config,
          num_classes=num_classes,
          hot_value=hot_value,
      ),
      batches,
  )
  goodness = goodness.reshape(num_batches * batch_size, num_classes, -1)
  return accuracy_by_depth(
      goodness[:num_examples], labels, config.predict_from_layer
  )


def predict(
    network: list[layers.Params],
    images: jnp.ndarray,
    *,
    config: config_lib.Config,
    num_classes: int,
    hot_value: float,
) -> jnp.ndarray:
  """The label with the largest score summed over the layers: [B].

  All layers, or those from `config.predict_from_layer` on; the score is
  goodness or the readout's log-probability (`candidate_scores`).
  """
  goodness = candidate_scores(
      network,
      images,
      config=config,
      num_classes=num_classes,
      hot_value=hot_value,
  )
  scores = summed_goodness_by_depth(goodness, config.predict_from_layer)
  return jnp.argmax(scores[..., -1], axis=-1)
