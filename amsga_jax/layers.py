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
(`first_layer_products`, `first_layer_activations`). The division by the
norm depends on the images alone, so training applies it once per phase
(`prepare_first_layer_inputs`) instead of once per epoch.
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


class FirstLayerInputs(NamedTuple):
  """A batch of images prepared for the first layer, parameter-free.

  Attributes:
    pixels: [B, D - C] the pixels divided by the embedded image's norm,
      `pixels / (sqrt(|pixels|^2 + v^2) + eps)`, the same for every label.
    label_scale: [B] the hot entry after the same division,
      `v / (sqrt(|pixels|^2 + v^2) + eps)`.
  """

  pixels: jnp.ndarray
  label_scale: jnp.ndarray


class FirstLayerProducts(NamedTuple):
  """What a batch of images shares across every label it may carry.

  Attributes:
    shared: [B, N] `pixels_hat @ W[C:]`, the product common to all labels.
    label_scale: [B] the normalised hot entry (`FirstLayerInputs`).
  """

  shared: jnp.ndarray
  label_scale: jnp.ndarray


def prepare_first_layer_inputs(
    images: jnp.ndarray,
    *,
    num_classes: int,
    hot_value: float,
    epsilon: float,
) -> FirstLayerInputs:
  """Splits [B, D] images into normalised pixels and the label's scale.

  Depends on the images only, so a training phase computes it once and
  every epoch reuses it.
  """
  pixels = images[:, num_classes:]
  norm = jnp.sqrt(jnp.sum(jnp.square(pixels), axis=-1) + hot_value**2)
  inverse_norm = 1.0 / (norm + epsilon)
  return FirstLayerInputs(
      pixels=pixels * inverse_norm[:, None],
      label_scale=hot_value * inverse_norm,
  )


def first_layer_products_of_prepared(
    params: Params, prepared: FirstLayerInputs
) -> FirstLayerProducts:
  """`first_layer_products` of inputs already through
  `prepare_first_layer_inputs`."""
  num_classes = params["w"].shape[0] - prepared.pixels.shape[-1]
  shared = prepared.pixels @ params["w"][num_classes:]
  return FirstLayerProducts(shared, prepared.label_scale)


def first_layer_products(
    params: Params,
    images: jnp.ndarray,
    *,
    num_classes: int,
    hot_value: float,
    epsilon: float,
) -> FirstLayerProducts:
  """The label-independent part of the first layer for [B, D] images."""
  prepared = prepare_first_layer_inputs(
      images, num_classes=num_classes, hot_value=hot_value, epsilon=epsilon
  )
  return first_layer_products_of_prepared(params, prepared)


def first_layer_activations(
    params: Params,
    products: FirstLayerProducts,
    labels: jnp.ndarray,
    *,
    num_classes: int,
) -> jnp.ndarray:
  """First-layer activations of the images carrying `labels` ([B]): [B, N].

  Equal to `hidden_layer(params, normalize_direction(embed_labels(...)))`,
  at the cost of a [B, C] @ [C, N] product instead of a [B, D] @ [D, N]
  one. The label rows of `W` are picked by a one-hot product rather than a
  gather: the two are equal, and the product's gradient is one more small
  product where the gather's is a slow scatter-add.
  """
  label_rows = (
      jax.nn.one_hot(labels, num_classes, dtype=products.shared.dtype)
      @ params["w"][:num_classes]
  )
  preactivations = products.shared + (
      products.label_scale[:, None] * label_rows
  )
  return jax.nn.relu(preactivations + params["b"][None, :])


def frozen_outputs(
    network: list[Params],
    products: FirstLayerProducts,
    labels: jnp.ndarray,
    *,
    num_classes: int,
    epsilon: float,
) -> jnp.ndarray:
  """Normalised output of `network` for images carrying `labels`: [B, N].

  Args:
    network: the (frozen) layers, first layer first (at least one).
    products: the first layer's `FirstLayerProducts` of the [B] images.
    labels: [B] the label each image carries.
    num_classes: `C`.
    epsilon: the normalisation's `eps`.

  Returns:
    [B, N_last], the input of the layer after `network`.
  """
  activity = first_layer_activations(
      network[0], products, labels, num_classes=num_classes
  )
  for params in network[1:]:
    activity = hidden_layer(params, normalize_direction(activity, epsilon))
  return normalize_direction(activity, epsilon)


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
    return frozen_outputs(
        network, products, labels, num_classes=num_classes, epsilon=epsilon
    )

  return jax.lax.map(for_label, jnp.arange(num_classes))
