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


def hard_wrong_labels(
    key: jax.Array,
    goodness: jnp.ndarray,
    labels: jnp.ndarray,
    *,
    mode: str,
) -> jnp.ndarray:
  """Wrong labels chosen by the network's own scores of every label.

  The true label is excluded; of the `C - 1` others, "hardest" takes the one
  with the largest goodness (the network's likeliest mistake) and "sampled"
  draws one with probability `softmax(goodness)` over the wrong labels, so
  every wrong label keeps some chance. No gradient flows through the choice.

  Args:
    key: PRNG key (used by "sampled" only).
    goodness: [B, C] goodness of each image under each candidate label.
    labels: [B] true labels in [0, C).
    mode: "hardest" or "sampled".

  Returns:
    [B] int32 wrong labels.
  """
  if mode not in ("hardest", "sampled"):
    raise ValueError(f"mode={mode!r} is not one of ['hardest', 'sampled'].")
  num_classes = goodness.shape[-1]
  is_true = jax.nn.one_hot(labels, num_classes, dtype=jnp.bool_)
  scores = jnp.where(is_true, -jnp.inf, jax.lax.stop_gradient(goodness))

  if mode == "hardest":
    return jnp.argmax(scores, axis=-1).astype(jnp.int32)
  return jax.random.categorical(key, scores, axis=-1).astype(jnp.int32)
