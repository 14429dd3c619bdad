"""A linear softmax readout per layer, trained locally, for prediction.

Scoring an image by goodness runs the network once per candidate label.
The alternative Hinton (2022) describes runs it once, with a *neutral*
label, and reads the class from the hidden activities with a linear
softmax classifier. Here each layer owns such a classifier:

    log p_l(c | x) = log_softmax(h_hat_l W_l^out + b_l^out)[c],

where `h_hat_l` is layer `l`'s activity under the neutral label, normalised
to unit length as the next layer would read it. The classifier is trained
by cross-entropy on the detached activity, so no gradient from it reaches
the layer, or any layer below: training stays local. Prediction from the
first `k` layers sums `log p_l` over the same layers as the goodness score
would (`evaluation.summed_goodness_by_depth`), a product of the layers'
classifiers.

The neutral label gives each of the `C` label entries of the first layer's
input `v / C` (the hot value shared out), normalised by the same norm as an
image carrying one label, so the first layer's neutral activity is its
shared product plus the mean of its label rows.

The classifier's parameters live in the layer's own pytree, as
`"readout_w"` [N, C] and `"readout_b"` [C], beside `"w"` and `"b"`;
`readout_partition` tells the optimiser which is which.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from amsga_jax import layers

READOUT_KEYS = ("readout_w", "readout_b")


def init_readout(num_inputs: int, num_classes: int) -> layers.Params:
  """A zero classifier (uniform prediction) on `num_inputs` activities.

  Returns:
    `{"readout_w": [num_inputs, C], "readout_b": [C]}`, float32.
  """
  return {
      "readout_w": jnp.zeros((num_inputs, num_classes), jnp.float32),
      "readout_b": jnp.zeros((num_classes,), jnp.float32),
  }


def readout_partition(params: layers.Params) -> dict[str, str]:
  """Labels a layer's leaves "readout" or "layer", for `multi_transform`."""
  return {
      name: "readout" if name in READOUT_KEYS else "layer" for name in params
  }


def neutral_first_layer_activations(
    params: layers.Params,
    products: layers.FirstLayerProducts,
    *,
    num_classes: int,
) -> jnp.ndarray:
  """The first layer's activity under the neutral label: [B, N]."""
  mean_label_row = jnp.mean(params["w"][:num_classes], axis=0)
  preactivations = (
      products.shared + products.label_scale[:, None] * mean_label_row[None, :]
  )
  return jax.nn.relu(preactivations + params["b"][None, :])


def neutral_activities(
    network: list[layers.Params],
    prepared: layers.FirstLayerInputs,
    *,
    num_classes: int,
    epsilon: float,
) -> list[jnp.ndarray]:
  """Each layer's normalised activity under the neutral label.

  Args:
    network: layer parameters, first layer first.
    prepared: the images as `layers.prepare_first_layer_inputs` leaves them.
    num_classes: `C`.
    epsilon: the normalisation's `eps`.

  Returns:
    one [B, N_l] array per layer, each row of unit length (or zero).
  """
  products = layers.first_layer_products_of_prepared(network[0], prepared)
  activity = neutral_first_layer_activations(
      network[0], products, num_classes=num_classes
  )
  normalised = [layers.normalize_direction(activity, epsilon)]
  for params in network[1:]:
    activity = layers.hidden_layer(params, normalised[-1])
    normalised.append(layers.normalize_direction(activity, epsilon))
  return normalised


def log_probabilities(
    params: layers.Params, normalised_activity: jnp.ndarray
) -> jnp.ndarray:
  """A layer's classifier: [B, N] activity -> [B, C] log-probabilities."""
  logits = (
      normalised_activity @ params["readout_w"] + params["readout_b"][None, :]
  )
  return jax.nn.log_softmax(logits, axis=-1)


def readout_loss(
    params: layers.Params,
    normalised_activity: jnp.ndarray,
    labels: jnp.ndarray,
) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Cross-entropy of a layer's classifier on its detached activity.

  Args:
    params: the layer's parameters, with its classifier's.
    normalised_activity: [B, N] neutral-label activity; detached here.
    labels: [B] true labels.

  Returns:
    (mean cross-entropy, fraction of the batch classified right).
  """
  log_probs = log_probabilities(
      params, jax.lax.stop_gradient(normalised_activity)
  )
  loss = jnp.mean(
      optax.softmax_cross_entropy_with_integer_labels(log_probs, labels)
  )
  accuracy = jnp.mean(jnp.argmax(log_probs, axis=-1) == labels)
  return loss, accuracy


def candidate_log_probabilities(
    network: list[layers.Params],
    images: jnp.ndarray,
    *,
    num_classes: int,
    hot_value: float,
    epsilon: float,
) -> jnp.ndarray:
  """Each layer's classifier's log-probability of each label.

  Args:
    network: layer parameters with their classifiers, first layer first.
    images: [B, D] standardised images.
    num_classes: `C`.
    hot_value: the label embedding's hot value.
    epsilon: the normalisation's `eps`.

  Returns:
    [B, C, L] log-probabilities, laid out as `candidate_goodness`'s scores.
  """
  prepared = layers.prepare_first_layer_inputs(
      images, num_classes=num_classes, hot_value=hot_value, epsilon=epsilon
  )
  activities = neutral_activities(
      network, prepared, num_classes=num_classes, epsilon=epsilon
  )
  return jnp.stack(
      [
          log_probabilities(params, activity)
          for params, activity in zip(network, activities, strict=True)
      ],
      axis=-1,
  )
