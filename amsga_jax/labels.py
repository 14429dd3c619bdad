"""Label embedding and the wrong labels that make negative data.

Forward-Forward scores an (image, label) pair: the label is written into
the first `C` inputs of the flattened image as a one-hot code. A positive
pair carries the true label; a negative pair carries a wrong label drawn
uniformly from the other `C - 1`, afresh every epoch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def embed_labels(
    images: jnp.ndarray,
    labels: jnp.ndarray,
    *,
    num_classes: int,
    hot_value: float,
) -> jnp.ndarray:
  """Overwrites the first `C` inputs of each image with a one-hot label.

  Args:
    images: [B, D] flattened, standardised images, `D > C`.
    labels: [B] integer labels in [0, C).
    num_classes: `C`.
    hot_value: the value of the hot entry (the brightest standardised
      pixel of the training set); the other `C - 1` entries are zero.

  Returns:
    [B, D] images carrying their labels.
  """
  one_hot = jax.nn.one_hot(labels, num_classes, dtype=images.dtype)
  return jnp.concatenate(
      [hot_value * one_hot, images[:, num_classes:]], axis=-1
  )


def sample_wrong_labels(
    key: jax.Array, labels: jnp.ndarray, *, num_classes: int
) -> jnp.ndarray:
  """Draws, for each example, a label uniformly from the `C - 1` wrong ones.

  A random offset in [1, C) added modulo `C` never returns the true label
  and gives each wrong label probability `1 / (C - 1)`.

  Args:
    key: PRNG key.
    labels: [B] true labels in [0, C).
    num_classes: `C >= 2`.

  Returns:
    [B] int32 wrong labels.
  """
  offsets = jax.random.randint(key, labels.shape, 1, num_classes)
  return ((labels + offsets) % num_classes).astype(jnp.int32)
