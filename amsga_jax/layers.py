"""Forward-Forward layers: direction normalisation, affine map, ReLU.

A layer computes `h = relu(W x_hat + b)` with `x_hat = x / (|x|_2 + eps)`:
only the direction of its input passes on, so a layer cannot read the
previous layer's goodness. Parameters are plain pytrees,
`{"w": [D_in, N], "b": [N]}`, one per layer.

The first layer has structure worth using. Its input is an image whose
first `C` entries are a one-hot label of height `v`; the rest are pixels.
The norm `sqrt(|pixels|^2 + v^2)` is the same for every label, so

    W x_hat_c = (W_pixels pixels + v W[c]) / (|x| + eps),

one shared product plus a scaled row of `W`. Positives, negatives and all
`C` prediction candidates of an image share that product
(`first_layer_products`, `first_layer_activations`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Params = dict[str, jnp.ndarray]


def init_layer(key: jax.Array, fan_in: int, fan_out: int) -> Params:
  """Kaiming (He) normal weights for ReLU, `std = sqrt(2 / fan_in)`; zero bias.

  Returns:
    `{"w": [fan_in, fan_out], "b": [fan_out]}`, float32.
  """
  std = jnp.sqrt(2.0 / fan_in)
  weights = std * jax.random.normal(key, (fan_in, fan_out), jnp.float32)
  return {"w": weights, "b": jnp.zeros((fan_out,), jnp.float32)}


def init_network(key: jax.Array, layer_sizes: tuple[int, ...]) -> list[Params]:
  """One `init_layer` per consecutive pair of `layer_sizes`, keys folded."""
  return [
      init_layer(jax.random.fold_in(key, index), fan_in, fan_out)
      for index, (fan_in, fan_out) in enumerate(
          zip(layer_sizes[:-1], layer_sizes[1:], strict=True)
      )
  ]


def normalize_direction(inputs: jnp.ndarray, epsilon: float) -> jnp.ndarray:
  """`x / (|x|_2 + eps)` per row: [B, D] -> [B, D]."""
  norm = jnp.linalg.norm(inputs, axis=-1, keepdims=True)
  return inputs / (norm + epsilon)


def hidden_layer(params: Params, normalized_inputs: jnp.ndarray) -> jnp.ndarray:
  """`relu(x_hat W + b)` on already normalised inputs: [B, D] -> [B, N]."""
  return jax.nn.relu(normalized_inputs @ params["w"] + params["b"][None, :])


class FirstLayerProducts(NamedTuple):
  """What a batch of images shares across every label it may carry.

  Attributes:
    shared: [B, N] `pixels @ W[C:]`, the product common to all labels.
    inverse_norm: [B] `1 / (sqrt(|pixels|^2 + v^2) + eps)`.
  """

  shared: jnp.ndarray
  inverse_norm: jnp.ndarray


def first_layer_products(
    params: Params,
    images: jnp.ndarray,
    *,
    num_classes: int,
    hot_value: float,
    epsilon: float,
) -> FirstLayerProducts:
  """The label-independent part of the first layer for [B, D] images."""
  pixels = images[:, num_classes:]
  shared = pixels @ params["w"][num_classes:]
  norm = jnp.sqrt(jnp.sum(jnp.square(pixels), axis=-1) + hot_value**2)
  return FirstLayerProducts(shared, 1.0 / (norm + epsilon))


def first_layer_activations(
    params: Params,
    products: FirstLayerProducts,
    labels: jnp.ndarray,
    *,
    hot_value: float,
) -> jnp.ndarray:
  """First-layer activations of the images carrying `labels` ([B]): [B, N].

  Equal to `hidden_layer(params, normalize_direction(embed_labels(...)))`,
  at the cost of a row gather instead of a product.
  """
  label_rows = params["w"][labels]
  preactivations = (products.shared + hot_value * label_rows) * (
      products.inverse_norm[:, None]
  )
  return jax.nn.relu(preactivations + params["b"][None, :])


def layer_inputs_for_all_labels(
    network: list[Params],
    images: jnp.ndarray,
    *,
    num_classes: int,
    hot_value: float,
    epsilon: float,
) -> jnp.ndarray:
  """Normalised inputs of the layer after `network`, for every label.

  Runs the (frozen) layers of `network` on each image under each of the
  `C` labels. Layer-wise training reads a layer's positive and negative
  inputs from this table instead of recomputing the frozen layers every
  epoch.

  Args:
    network: the trained layers, first layer first (at least one).
    images: [B, D] standardised images.
    num_classes: `C`.
    hot_value: the label embedding's hot value.
    epsilon: the normalisation's `eps`.

  Returns:
    [C, B, N] normalised activations of the last layer of `network`.
  """
  products = first_layer_products(
      network[0],
      images,
      num_classes=num_classes,
      hot_value=hot_value,
      epsilon=epsilon,
  )

  def for_label(label):
    labels = jnp.full(images.shape[:1], label, jnp.int32)
    activity = first_layer_activations(
        network[0], products, labels, hot_value=hot_value
    )
    for params in network[1:]:
      activity = hidden_layer(params, normalize_direction(activity, epsilon))
    return normalize_direction(activity, epsilon)

  return jax.lax.map(for_label, jnp.arange(num_classes))
