"""Small datasets for the tests, built without reading any data files.

`tiny_dataset` builds a synthetic, learnable problem of any width in
milliseconds; `digits_dataset` prepares scikit-learn's 8x8 digits the way the
method prepares MNIST (scaled pixels, a fixed-seed split, standardisation
with the training split's statistics, hot value the brightest training
pixel). Both return an `amsga_jax.data.Dataset`. `random_network` builds
layers whose units are not all alike.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from amsga_jax import data
from amsga_jax import layers


def array_dataset(**splits) -> data.Dataset:
  """An `amsga_jax.data.Dataset` of arrays the tests built themselves.

  Takes the `Dataset` fields as keywords; `mean`, `std` and `source`
  default to the values of already standardised synthetic data.
  """
  defaults = dict(mean=0.0, std=1.0, source="built by the tests")
  return data.Dataset(**{**defaults, **splits})


def tiny_dataset(
    num_train: int = 200,
    input_dim: int = 20,
    seed: int = 0,
    *,
    num_classes: int = 10,
    num_validation: int = 50,
    num_test: int = 50,
) -> data.Dataset:
  """A synthetic problem: each class a Gaussian blob around its own prototype.

  Prototypes are random in the `D - C` pixel inputs (the first `C` inputs
  carry the label embedding and are zero here, as in a real image's border);
  each example is its class's prototype plus noise of a third of its scale,
  so the classes are well separated and a few epochs learn them.

  Args:
    num_train: training examples.
    input_dim: `D`, which must exceed `num_classes`.
    seed: seed of every draw.
    num_classes: `C`.
    num_validation: validation examples.
    num_test: test examples.

  Returns:
    A `Dataset` with hot value 2.0.
  """
  if input_dim <= num_classes:
    raise ValueError(f"input_dim={input_dim} must exceed {num_classes}.")
  rng = np.random.default_rng(seed)
  prototypes = rng.normal(size=(num_classes, input_dim - num_classes))

  def split(size):
    labels = rng.integers(0, num_classes, size=size).astype(np.int32)
    pixels = prototypes[labels] + 0.3 * rng.normal(
        size=(size, input_dim - num_classes)
    )
    border = np.zeros((size, num_classes))
    images = np.concatenate([border, pixels], axis=1).astype(np.float32)
    return images, labels

  train, validation, test = (
      split(n) for n in (num_train, num_validation, num_test)
  )
  return array_dataset(
      name="tiny",
      train_images=train[0],
      train_labels=train[1],
      validation_images=validation[0],
      validation_labels=validation[1],
      test_images=test[0],
      test_labels=test[1],
      num_classes=num_classes,
      hot_value=2.0,
  )


def random_network(key: jax.Array, layer_sizes: tuple[int, ...]) -> list:
  """Kaiming-initialised layers with small random biases.

  With zero biases a ReLU layer's units are all active or all silent in the
  same way for every label; random biases make the tests see both.

  Args:
    key: PRNG key.
    layer_sizes: input width, then one width per layer.

  Returns:
    A list of `{"w": [D_in, N], "b": [N]}` parameter dicts.
  """
  network = layers.init_network(key, layer_sizes)
  for index, params in enumerate(network):
    bias_key = jax.random.fold_in(key, 1000 + index)
    params["b"] = 0.1 * jax.random.normal(bias_key, params["b"].shape)
  return network


@functools.lru_cache(maxsize=1)
def digits_dataset(
    num_train: int = 1197, num_validation: int = 300, seed: int = 0
) -> data.Dataset:
  """scikit-learn's 8x8 digits (1797 images), prepared like MNIST.

  Pixels are divided by 16 (to [0, 1]); a permutation with a fixed seed
  picks `num_train` training, `num_validation` validation and the remaining
  (300) test images; every split is standardised with the training split's
  pixel mean and standard deviation; the hot value is the largest
  standardised training pixel. Validation and test have the same size, so
  a Trainer evaluates both with one compiled program. Cached: every caller
  gets the same object.

  Args:
    num_train: training images.
    num_validation: validation images.
    seed: seed of the permutation.

  Returns:
    A `Dataset` of [n, 64] float32 images.
  """
  from sklearn import datasets as sklearn_datasets  # Slow import; lazily.

  digits = sklearn_datasets.load_digits()
  images = digits.data.astype(np.float32) / 16.0
  labels = digits.target.astype(np.int32)

  order = np.random.default_rng(seed).permutation(len(images))
  train = order[:num_train]
  validation = order[num_train : num_train + num_validation]
  test = order[num_train + num_validation :]

  mean, std = images[train].mean(), images[train].std()
  standardised = ((images - mean) / std).astype(np.float32)
  return array_dataset(
      name="digits",
      train_images=standardised[train],
      train_labels=labels[train],
      validation_images=standardised[validation],
      validation_labels=labels[validation],
      test_images=standardised[test],
      test_labels=labels[test],
      num_classes=10,
      hot_value=float(standardised[train].max()),
  )
