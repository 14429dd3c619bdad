"""Input jitter for training images: small shifts and mirror images.

Both read a flattened image as the square picture it came from, so a run
that uses them is no longer invariant to a fixed permutation of the pixels
(the "permutation-invariant" setting in which the Forward-Forward MNIST
results are usually quoted). `Config.shift_pixels` and `Config.mirror`
switch them on; they change only the training images a step sees, never
the validation or test images.

Each image is moved on its own by a whole number of pixels in each
direction, drawn uniformly from `[-k, k]`; the pixels that move in copy the
nearest edge pixel (the background, for MNIST). A mirror image flips left
and right with probability one half.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def image_side(num_inputs: int) -> int:
  """The side of the square picture of `num_inputs` pixels.

  Raises:
    ValueError: when `num_inputs` is not a perfect square.
  """
  side = math.isqrt(num_inputs)
  if side * side != num_inputs:
    raise ValueError(
        f"{num_inputs} inputs are not a square picture; shifts and mirror"
        " images need square images (784 = 28 x 28)."
    )
  return side


def shift_images(
    key: jax.Array, images: jnp.ndarray, max_shift: int
) -> jnp.ndarray:
  """Moves each image by up to `max_shift` pixels along each axis.

  Args:
    key: PRNG key of the draw.
    images: [B, D] flattened square images, `D = side * side`.
    max_shift: the largest move in pixels; 0 returns `images` unchanged.

  Returns:
    [B, D] images, each moved by its own (rows, columns) offset.
  """
  if max_shift == 0:
    return images
  num_images, num_inputs = images.shape
  side = image_side(num_inputs)
  pictures = images.reshape(num_images, side, side)
  padded = jnp.pad(
      pictures,
      ((0, 0), (max_shift, max_shift), (max_shift, max_shift)),
      mode="edge",
  )

  starts = jax.random.randint(key, (num_images, 2), 0, 2 * max_shift + 1)

  def crop(picture, start):
    return jax.lax.dynamic_slice(picture, (start[0], start[1]), (side, side))

  return jax.vmap(crop)(padded, starts).reshape(num_images, num_inputs)


def mirror_images(key: jax.Array, images: jnp.ndarray) -> jnp.ndarray:
  """Flips each image left to right with probability one half.

  Args:
    key: PRNG key of the draw.
    images: [B, D] flattened square images.

  Returns:
    [B, D] images, about half of them mirrored.
  """
  num_images, num_inputs = images.shape
  side = image_side(num_inputs)
  pictures = images.reshape(num_images, side, side)
  flip = jax.random.bernoulli(key, 0.5, (num_images,))
  mirrored = jnp.where(flip[:, None, None], pictures[:, :, ::-1], pictures)
  return mirrored.reshape(num_images, num_inputs)


def jitter_images(
    key: jax.Array, images: jnp.ndarray, *, max_shift: int, mirror: bool
) -> jnp.ndarray:
  """`shift_images`, then `mirror_images` when `mirror`: [B, D] -> [B, D]."""
  shift_key, mirror_key = jax.random.split(key)
  images = shift_images(shift_key, images, max_shift)
  if mirror:
    images = mirror_images(mirror_key, images)
  return images
