"""Splits, standardisation and the `Dataset` container.

`load_dataset` turns a dataset's official train and test parts into three
splits of flattened, standardised float32 images:

- `train`: the official training images less the validation images, chosen by
  `numpy.random.default_rng(split_seed).permutation` (50 000 of MNIST's
  60 000, the paper's full batch);
- `validation`: the other `validation_size` training images (10 000);
- `test`: the official test images (10 000).

Pixels are scaled to [0, 1] and standardised with one scalar mean and one
scalar standard deviation, both computed over every pixel of the training
split only. `hot_value`, the value a label embedding gives the hot entry of
its one-hot code, is the largest standardised training pixel.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from amsga_jax.data import sources

DataError = sources.DataError
KNOWN_DATASETS = sources.KNOWN_DATASETS

# Validation images per dataset when `validation_size` is None.
DEFAULT_VALIDATION_SIZES = {
    "mnist": 10_000,
    "fashion_mnist": 10_000,
    "digits": 297,
}


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
  """Three standardised splits of a dataset, and how they were made.

  Attributes:
    name: canonical name: "mnist", "fashion_mnist" or "digits".
    train_images: [n_train, D] float32, standardised (D = 784 for MNIST).
    train_labels: [n_train] int32 in [0, num_classes).
    validation_images: [n_validation, D] float32, standardised.
    validation_labels: [n_validation] int32.
    test_images: [n_test, D] float32, standardised.
    test_labels: [n_test] int32.
    num_classes: the number of classes (10).
    hot_value: the largest standardised pixel of the training split.
    mean: the pixel mean of the training split, in [0, 1] units.
    std: the pixel standard deviation of the training split, in [0, 1] units.
    source: where the data came from (a folder, "tensorflow_datasets",
      "scikit-learn digits").
  """

  name: str
  train_images: np.ndarray
  train_labels: np.ndarray
  validation_images: np.ndarray
  validation_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  num_classes: int
  hot_value: float
  mean: float
  std: float
  source: str

  @property
  def input_dim(self) -> int:
    """The number of inputs per image, D (784 for 28x28 images)."""
    return int(self.train_images.shape[1])

  def __repr__(self) -> str:
    def shape_text(images: np.ndarray) -> str:
      return "x".join(str(size) for size in images.shape)

    return (
        f"Dataset(name={self.name!r}, "
        f"train={shape_text(self.train_images)}, "
        f"validation={shape_text(self.validation_images)}, "
        f"test={shape_text(self.test_images)}, "
        f"num_classes={self.num_classes}, hot_value={self.hot_value:.4f}, "
        f"mean={self.mean:.4f}, std={self.std:.4f}, source={self.source!r})"
    )


def split_indices(
    num_images: int, validation_size: int, split_seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
  """Splits the official training images into train and validation.

  Args:
    num_images: the number of official training images (60 000 for MNIST).
    validation_size: how many go to validation.
    split_seed: seed of `numpy.random.default_rng(split_seed).permutation`.

  Returns:
    train_indices: [num_images - validation_size] int, the first part of the
      permutation.
    validation_indices: [validation_size] int, the last part.
  """
  order = np.random.default_rng(split_seed).permutation(num_images)
  num_train = num_images - validation_size
  return order[:num_train], order[num_train:]


def pixel_statistics(images: np.ndarray, pixel_max: int) -> tuple[float, float]:
  """The mean and standard deviation of every pixel, in [0, 1] units.

  Computed exactly from integer sums of the pixels and of their squares.

  Args:
    images: [n, ...] uint8 pixels in [0, pixel_max].
    pixel_max: the pixel value that maps to 1.

  Returns:
    mean, std: Python floats.
  """
  count = images.size
  total = int(images.sum(dtype=np.uint64))
  squares = np.square(images, dtype=np.uint16)
  total_of_squares = int(squares.sum(dtype=np.uint64))

  mean = total / (count * pixel_max)
  variance = (count * total_of_squares - total**2) / (count * pixel_max) ** 2
  return mean, float(np.sqrt(variance))


def standardised_levels(pixel_max: int, mean: float, std: float) -> np.ndarray:
  """The standardised float32 value of each of the 256 uint8 pixel levels.

  Args:
    pixel_max: the pixel value that maps to 1 before standardising.
    mean: the mean to subtract, in [0, 1] units.
    std: the standard deviation to divide by, in [0, 1] units.

  Returns:
    [256] float32: `(level / pixel_max - mean) / std`, computed in float64;
    indexing it with uint8 images standardises them.
  """
  levels = np.arange(256, dtype=np.float64) / pixel_max
  return ((levels - mean) / std).astype(np.float32)


def prepare_dataset(
    raw: sources.RawData,
    *,
    name: str,
    validation_size: int | None = None,
    split_seed: int = 0,
    train_size: int | None = None,
) -> Dataset:
  """Splits, scales, standardises and flattens raw data.

  The mean, std and hot value come from the whole training split (before
  `train_size` truncation), so that a quick run on fewer images sees the same
  validation and test inputs and the same hot value as a full run.

  Args:
    raw: official train and test parts; uint8 images [n, rows, cols].
    name: the dataset's name or alias (sets the pixel scale and the default
      validation size).
    validation_size: validation images taken from the official training part;
      the dataset's default (10 000, 297 for digits) when None.
    split_seed: seed of the train/validation permutation.
    train_size: keep only the first `train_size` images of the shuffled
      training split; None or 0 keeps them all.

  Returns:
    The `Dataset`, images [n, rows * cols] float32 and labels [n] int32.

  Raises:
    ValueError: sizes that leave no training images or ask for more than
      there are.
    DataError: every training pixel has the same value.
  """
  name = sources.canonical_name(name)
  for images in (raw.train_images, raw.test_images):
    if images.dtype != np.uint8:
      raise ValueError(f"raw images must be uint8, got {images.dtype}")

  num_images = raw.train_images.shape[0]
  if validation_size is None:
    validation_size = DEFAULT_VALIDATION_SIZES[name]
  if not 0 <= validation_size < num_images:
    raise ValueError(
        f"validation_size {validation_size} must be in [0, {num_images}): "
        f"{name} has {num_images} training images to split"
    )
  num_train = num_images - validation_size
  if train_size is not None and not 0 <= train_size <= num_train:
    raise ValueError(
        f"train_size {train_size} must be in [1, {num_train}] (0 or None for "
        f"all {num_train} training images left after validation)"
    )

  train_indices, validation_indices = split_indices(
      num_images, validation_size, split_seed
  )
  train_pixels = raw.train_images[train_indices]
  pixel_max = sources.PIXEL_MAX[name]
  mean, std = pixel_statistics(train_pixels, pixel_max)
  if std == 0:
    raise DataError(
        f"{raw.source}: every training pixel of {name} is {mean * pixel_max:g};"
        " the images cannot be standardised"
    )
  levels = standardised_levels(pixel_max, mean, std)
  hot_value = float(levels[train_pixels.max()])

  if train_size:
    train_indices = train_indices[:train_size]
    train_pixels = train_pixels[:train_size]

  def prepare_images(images: np.ndarray) -> np.ndarray:
    return levels[images.reshape(images.shape[0], -1)]

  def prepare_labels(labels: np.ndarray) -> np.ndarray:
    return np.asarray(labels, dtype=np.int32)

  return Dataset(
      name=name,
      train_images=prepare_images(train_pixels),
      train_labels=prepare_labels(raw.train_labels[train_indices]),
      validation_images=prepare_images(raw.train_images[validation_indices]),
      validation_labels=prepare_labels(raw.train_labels[validation_indices]),
      test_images=prepare_images(raw.test_images),
      test_labels=prepare_labels(raw.test_labels),
      num_classes=sources.NUM_CLASSES,
      hot_value=hot_value,
      mean=mean,
      std=std,
      source=raw.source,
  )


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    validation_size: int | None = None,
    split_seed: int = 0,
    train_size: int | None = None,
    test_size: int | None = None,
) -> Dataset:
  """Loads a dataset as standardised train, validation and test splits.

  Args:
    name: "mnist", "fashion_mnist" or "digits" (aliases "fashion-mnist",
      "fmnist").
    data_dir: an explicit folder holding the four IDX files, or holding
      `mnist/` and `fashion-mnist/`; searched before `$AMSGA_DATA_DIR`, the
      user cache, the system folders and TensorFlow Datasets.
    download: when no source has the data, download it from the public
      mirrors into the user cache, checked against known SHA-256 sums.
    validation_size: validation images taken from the official training
      images; None gives 10 000 (297 for digits).
    split_seed: seed of the train/validation permutation.
    train_size: keep only the first `train_size` images of the shuffled
      training split, for quick runs; None (or 0) keeps all (50 000 for
      MNIST). Validation, test, mean, std and hot value are unaffected.
    test_size: digits only: the size of its fixed held-out test part (300
      when None). MNIST and Fashion-MNIST use their official test images.

  Returns:
    The `Dataset`: MNIST gives train [50000, 784], validation [10000, 784]
    and test [10000, 784] float32 images with int32 labels.

  Raises:
    DataError: unknown name, data found nowhere (the message lists the
      places looked at and the ways to get the data), or a corrupt file.
    ValueError: sizes that do not fit the dataset.
  """
  name = sources.canonical_name(name)

  raw = sources.load_raw(name, data_dir, download=download, test_size=test_size)

  return prepare_dataset(
      raw,
      name=name,
      validation_size=validation_size,
      split_seed=split_seed,
      train_size=train_size,
  )
