"""Every setting of a run, in one frozen dataclass, with its checks.

`Config` holds each number the method names (the AMSGA defaults of the
method description in `docs/method.md`), the architecture, the data and the
run's bookkeeping. Library functions take the values they need as keyword
arguments; only the training loop and the runner read a whole `Config`.

`Config.validate()` raises a `ValueError` that names the offending value and
what is allowed, before anything is compiled or loaded.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

SCHEDULES = ("layerwise", "simultaneous")
GLOBAL_GOODNESS_READINGS = ("example", "batch")
MATMUL_PRECISIONS = ("float32", "tensorfloat32", "bfloat16")
NEGATIVE_LABELS = ("random", "hardest", "sampled")
LOSSES = ("threshold", "symmetric")
FROZEN_OUTPUTS = ("auto", "cache", "recompute")
READOUTS = ("goodness", "softmax")


@dataclasses.dataclass(frozen=True)
class Config:
  """A complete, immutable description of one training run.

  The defaults are the method's defaults with the paper's AMSGA MNIST
  architecture and a short mini-batch budget that runs in minutes on a
  laptop CPU. `experiments/presets.py` holds the paper's settings.
  """

  # Data.
  dataset: str = "mnist"
  validation_size: int = 0  # 0: the dataset's own (10 000 for MNIST).
  split_seed: int = 0
  train_size: int = 0  # 0: every training image left after validation.

  # Architecture: input width first, then one width per hidden layer.
  layer_sizes: tuple[int, ...] = (784, 600, 600, 500)
  norm_epsilon: float = 1e-4

  # Budget and optimiser.
  epochs: int = 5  # Per layer.
  batch_size: int = 200  # 0: one full batch (the paper's setting).
  learning_rate: float = 0.04
  clip_norm: float = 0.3
  adam_b1: float = 0.9
  adam_b2: float = 0.999
  schedule: str = "layerwise"  # Or "simultaneous": all layers at once.

  # Seeds: `num_seeds` runs with seeds seed, seed + 1, ... as one program.
  seed: int = 0
  num_seeds: int = 1

  # The four AMSGA components; all off is the Forward-Forward baseline.
  multiscale: bool = True
  curriculum: bool = True
  adaptive_threshold: bool = True
  warmup_cosine: bool = True

  # Threshold (eq. 1 and eq. 11).
  threshold: float = 2.0
  threshold_depth_increase: float = 0.2
  threshold_progress_increase: float = 0.1

  # Multi-scale goodness (eqs. 2-6).
  num_groups: int = 8
  global_goodness: str = "example"  # Or "batch": one value per batch.
  weights_first_layer: tuple[float, float, float] = (0.5, 0.3, 0.2)
  weights_last_layer: tuple[float, float, float] = (0.2, 0.3, 0.5)

  # Curriculum negative selection (eqs. 7-10).
  stage_boundaries: tuple[float, float] = (0.3, 0.7)
  band_widths: tuple[float, float, float, float] = (0.2, 0.4, 0.6, 0.8)
  very_hard_rate_middle: float = 0.1
  very_hard_rate_late: float = 0.3
  min_selected_fraction: float = 0.25

  # Learning-rate schedule (eqs. 12-13).
  warmup_fraction: float = 0.1
  final_lr_fraction: float = 0.01

  # Beyond the paper: switches that compose with the four components.
  # Wrong labels of negatives: uniform ("random", the paper's), the wrong
  # label the network scores highest ("hardest"), or one drawn in
  # proportion to softmax(goodness) over the wrong labels ("sampled").
  negative_labels: str = "random"
  # "threshold": eq. 1. "symmetric": softplus(-alpha (G+ - G-)) per pair.
  loss: str = "threshold"
  symmetric_alpha: float = 4.0
  # Prediction sums the goodness of layers predict_from_layer.. (0-based).
  predict_from_layer: int = 0
  # "goodness": predict the label with the largest goodness. "softmax":
  # each layer also trains a linear softmax classifier on its normalised
  # activity under a neutral label (no gradient reaches the layer), and
  # prediction sums their log-probabilities over the same layers.
  readout: str = "goodness"
  # Input jitter of the training images (`augmentation`): shifts of up to
  # `shift_pixels` along each axis, and left-right mirror images. Both use
  # the images' 2-D layout, so a run with either is not
  # permutation-invariant. Simultaneous schedule only.
  shift_pixels: int = 0
  mirror: bool = False

  # How a later layer of the layer-wise schedule reads its inputs: from a
  # cache of the frozen layers' outputs for every image under every label
  # ([S, C, B, N_prev], filled once per layer), or by running the frozen
  # layers on each step's negatives ("recompute"). "auto" caches when the
  # cache takes at most `frozen_cache_limit_mib` per device.
  frozen_outputs: str = "auto"
  frozen_cache_limit_mib: int = 8192

  # Numerics, devices and logging cadence.
  matmul_precision: str = "float32"
  data_parallel: bool = True  # Split the batch over all devices.
  eval_every: int = 1  # Epochs between validation evaluations.
  checkpoint_every: int = 0  # 0: only at layer boundaries and on exit.

  @property
  def num_layers(self) -> int:
    return len(self.layer_sizes) - 1

  @property
  def is_full_batch(self) -> bool:
    return self.batch_size == 0

  def replace(self, **changes: Any) -> Config:
    return dataclasses.replace(self, **changes)

  def to_dict(self) -> dict[str, Any]:
    return {
        f.name: (
            list(getattr(self, f.name))
            if isinstance(getattr(self, f.name), tuple)
            else getattr(self, f.name)
        )
        for f in dataclasses.fields(self)
    }

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> Config:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
      raise ValueError(f"Unknown configuration fields: {unknown}.")
    converted = {
        name: tuple(value) if isinstance(value, list) else value
        for name, value in values.items()
    }
    return cls(**converted)

  def validate(self) -> Config:
    """Checks every value; returns self so calls can be chained.

    Raises:
      ValueError: naming the first value that is not allowed.
    """
    _check_choice("schedule", self.schedule, SCHEDULES)
    _check_choice(
        "global_goodness", self.global_goodness, GLOBAL_GOODNESS_READINGS
    )
    _check_choice("matmul_precision", self.matmul_precision, MATMUL_PRECISIONS)
    _check_choice("negative_labels", self.negative_labels, NEGATIVE_LABELS)
    _check_choice("loss", self.loss, LOSSES)
    _check_choice("frozen_outputs", self.frozen_outputs, FROZEN_OUTPUTS)
    _check_choice("readout", self.readout, READOUTS)

    if len(self.layer_sizes) < 2:
      raise ValueError(
          f"layer_sizes={self.layer_sizes} needs the input width and at"
          " least one hidden width, e.g. (784, 500, 500)."
      )
    for width in self.layer_sizes:
      if not isinstance(width, int) or width < 1:
        raise ValueError(
            f"layer_sizes={self.layer_sizes}: every width must be a"
            " positive integer."
        )

    for name in ("epochs", "num_seeds"):
      _check_positive_int(name, getattr(self, name))
    for name in (
        "batch_size",
        "train_size",
        "validation_size",
        "checkpoint_every",
    ):
      _check_non_negative_int(name, getattr(self, name))
    _check_positive_int("eval_every", self.eval_every)
    _check_positive_int("num_groups", self.num_groups)
    _check_positive_int("frozen_cache_limit_mib", self.frozen_cache_limit_mib)

    _check_non_negative_int("predict_from_layer", self.predict_from_layer)
    _check_non_negative_int("shift_pixels", self.shift_pixels)
    jitters = self.shift_pixels > 0 or self.mirror
    if self.schedule == "layerwise" and (jitters or self.readout != "goodness"):
      raise ValueError(
          f"shift_pixels={self.shift_pixels}, mirror={self.mirror} and"
          f" readout={self.readout!r} need schedule='simultaneous': the"
          " layer-wise schedule trains a later layer on a fixed table of the"
          " frozen layers' outputs, which neither jittered images nor a"
          " neutral-label pass fit. Use shift_pixels=0, mirror=False and"
          " readout='goodness', or schedule='simultaneous'."
      )
    if self.predict_from_layer >= self.num_layers:
      raise ValueError(
          f"predict_from_layer={self.predict_from_layer} leaves no layer to"
          f" predict from in a network of {self.num_layers} layers; it"
          f" must be below {self.num_layers}."
      )

    for name in (
        "learning_rate",
        "threshold",
        "clip_norm",
        "norm_epsilon",
        "symmetric_alpha",
    ):
      value = getattr(self, name)
      if not (_is_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a positive number.")
    for name in ("threshold_depth_increase", "threshold_progress_increase"):
      value = getattr(self, name)
      if value <= -1:
        raise ValueError(
            f"{name}={value!r} must be above -1 so the threshold stays"
            " positive."
        )

    for name in (
        "very_hard_rate_middle",
        "very_hard_rate_late",
        "min_selected_fraction",
        "warmup_fraction",
        "final_lr_fraction",
    ):
      _check_fraction(name, getattr(self, name))
    for name in ("adam_b1", "adam_b2"):
      value = getattr(self, name)
      if not 0 <= value < 1:
        raise ValueError(f"{name}={value!r} must lie in [0, 1).")

    _check_weights("weights_first_layer", self.weights_first_layer)
    _check_weights("weights_last_layer", self.weights_last_layer)
    if self.weights_first_layer[1] != self.weights_last_layer[1]:
      raise ValueError(
          "The intermediate-scale weight is the same at every depth (eq. 5):"
          f" weights_first_layer[1]={self.weights_first_layer[1]} differs"
          f" from weights_last_layer[1]={self.weights_last_layer[1]}."
      )

    if len(self.stage_boundaries) != 2 or not (
        0 <= self.stage_boundaries[0] <= self.stage_boundaries[1] <= 1
    ):
      raise ValueError(
          f"stage_boundaries={self.stage_boundaries} must be two fractions"
          " p1 <= p2 in [0, 1]."
      )
    if len(self.band_widths) != 4:
      raise ValueError(
          f"band_widths={self.band_widths} must hold four values"
          " (omega_0, omega_1, omega_2, omega_3)."
      )
    for width in self.band_widths:
      if not 0 <= width < 1:
        raise ValueError(
            f"band_widths={self.band_widths}: each must lie in [0, 1); at 1"
            " or more the band reaches zero goodness and selects every"
            " negative the layer already rejects."
        )
    return self


def min_selected_count(fraction: float, batch_size: int) -> int:
  """The curriculum's minimum sample, `ceil(fraction * batch_size)`.

  Rounded to nine decimals first, so that 0.3 * 10 counts as 3, not 4.
  """
  return int(math.ceil(round(fraction * batch_size, 9)))


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
  if value not in allowed:
    raise ValueError(f"{name}={value!r} is not one of {list(allowed)}.")


def _check_positive_int(name: str, value: Any) -> None:
  if not isinstance(value, int) or isinstance(value, bool) or value < 1:
    raise ValueError(f"{name}={value!r} must be a positive integer.")


def _check_non_negative_int(name: str, value: Any) -> None:
  if not isinstance(value, int) or isinstance(value, bool) or value < 0:
    raise ValueError(f"{name}={value!r} must be an integer >= 0.")


def _check_fraction(name: str, value: Any) -> None:
  if not (_is_number(value) and 0 <= value <= 1):
    raise ValueError(f"{name}={value!r} must be a fraction in [0, 1].")


def _check_weights(name: str, weights: tuple[float, ...]) -> None:
  if len(weights) != 3 or any(w < 0 for w in weights):
    raise ValueError(
        f"{name}={weights} must be three non-negative weights"
        " (local, intermediate, global)."
    )
  if abs(sum(weights) - 1) > 1e-6:
    raise ValueError(f"{name}={weights} must sum to one, not {sum(weights)}.")
