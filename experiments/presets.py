"""Named configurations: the paper's four table rows, a quick default, and
the best Forward-Forward configurations this library has found.

Each preset says what it reproduces, the command that runs it, and how long
it takes. Flags given on the command line override a preset's values.
Times are for the 2-core x86-64 CPU this repository is developed on unless
stated; `RESULTS.md` holds the measured ones.
"""

from __future__ import annotations

from collections.abc import Callable

from amsga_jax import Config

_BASELINE_SWITCHES = dict(
    multiscale=False,
    curriculum=False,
    adaptive_threshold=False,
    warmup_cosine=False,
)


def quick() -> Config:
  """AMSGA on MNIST, short: the command with no flags.

  `python -m experiments.train`. The paper's AMSGA MNIST architecture
  (784-600-600-500, lr 0.04, theta 2.0) with shuffled mini-batches of 200
  (250 updates per epoch) for 5 epochs per layer: about three minutes on a
  2-core CPU (86% test accuracy, seed 0). Not a paper setting: a short run
  that learns. With mini-batches of 1000 (250 updates per layer in all)
  AMSGA still predicts a single class; the FF baseline learns sooner.
  """
  return Config(
      dataset="mnist",
      layer_sizes=(784, 600, 600, 500),
      learning_rate=0.04,
      threshold=2.0,
      epochs=5,
      batch_size=200,
      eval_every=1,
  )


def baseline_mnist() -> Config:
  """The paper's FF baseline on MNIST (its table I, 92.00% test).

  `python -m experiments.train --preset=baseline_mnist`. 784-500-500, Adam
  lr 0.03, theta 2.0, 1000 full-batch epochs per layer, all four AMSGA
  components off. 1196 s on the 2-core development CPU with nothing else
  running (0.63 and 0.53 s per epoch); 92.79% test with seed 0.
  """
  return Config(
      dataset="mnist",
      layer_sizes=(784, 500, 500),
      learning_rate=0.03,
      threshold=2.0,
      epochs=1000,
      batch_size=0,
      eval_every=50,
      checkpoint_every=100,
      **_BASELINE_SWITCHES,
  )


def amsga_mnist() -> Config:
  """The paper's AMSGA on MNIST (its table I: 93.45%; its text: 94.45%).

  `python -m experiments.train --preset=amsga_mnist`. 784-600-600-500, lr
  0.04 with warm-up and cosine decay, theta 2.0 adaptive, multi-scale
  goodness, curriculum negatives, 1500 full-batch epochs per layer. On the
  2-core development CPU: 64 minutes of training by the benchmark's epoch
  times, 80 minutes for the run in RESULTS.md that shared the machine;
  89.64% test with seed 0.
  """
  return Config(
      dataset="mnist",
      layer_sizes=(784, 600, 600, 500),
      learning_rate=0.04,
      threshold=2.0,
      epochs=1500,
      batch_size=0,
      eval_every=50,
      checkpoint_every=100,
  )


def baseline_fmnist() -> Config:
  """The paper's FF baseline on Fashion-MNIST (its table II, 81.0% test).

  `python -m experiments.train --preset=baseline_fmnist`. 784-500-500, lr
  0.03, theta 2.0, 1500 full-batch epochs per layer, components off.
  """
  return baseline_mnist().replace(dataset="fashion_mnist", epochs=1500)


def amsga_fmnist() -> Config:
  """The paper's AMSGA on Fashion-MNIST (table II: 82.5%; text: 84.5%).

  `python -m experiments.train --preset=amsga_fmnist`. 784-700-700-600, lr
  0.05, theta 2.5, 2500 full-batch epochs per layer, all components on.
  """
  return amsga_mnist().replace(
      dataset="fashion_mnist",
      layer_sizes=(784, 700, 700, 600),
      learning_rate=0.05,
      threshold=2.5,
      epochs=2500,
  )


def best_mnist_pi() -> Config:
  """The most accurate permutation-invariant local MNIST run found here.

  `python -m experiments.train --preset=best_mnist_pi --seeds=3`.
  784-500-500 trained all at once (every layer updated at every step on the
  detached output of the one below) on shuffled mini-batches of 100 for 20
  epochs: each image's negative carries the wrong label the network
  currently scores highest, each layer's loss compares the pair directly
  (symmetric loss), and Adam's rate warms up to 0.03 and decays by a
  cosine. No gradient crosses a layer, and nothing uses the images' 2-D
  layout. The choices were made on validation accuracy with the short runs
  listed in RESULTS.md section 7, which also holds the measured accuracy
  and time: 98.13 ± 0.04% test over three seeds. Time on the 2-core
  development CPU: 983 s for three seeds while another run shared the
  machine (39 s per epoch); the same network on Fashion-MNIST took 259 s
  (11 s per epoch) with the machine to itself. Not measured on a GPU: none
  was lent to this project.
  """
  return Config(
      dataset="mnist",
      layer_sizes=(784, 500, 500),
      schedule="simultaneous",
      batch_size=100,
      epochs=20,
      learning_rate=0.03,
      multiscale=False,
      curriculum=False,
      adaptive_threshold=False,
      warmup_cosine=True,
      loss="symmetric",
      negative_labels="hardest",
      eval_every=1,
      checkpoint_every=1,
  )


def best_fmnist_pi() -> Config:
  """`best_mnist_pi`'s recipe on Fashion-MNIST (permutation-invariant).

  `python -m experiments.train --preset=best_fmnist_pi --seeds=3`. The
  same switches, architecture and budget as `best_mnist_pi`, chosen on
  MNIST's validation set and not tuned further: 88.82 ± 0.07% test over
  three seeds. Time on the 2-core development CPU with nothing else
  running: 259 s for three seeds (11 s per epoch). Not measured on a GPU:
  none was lent to this project.
  """
  return best_mnist_pi().replace(dataset="fashion_mnist")


def best_mnist() -> Config:
  """The most accurate strictly local MNIST run found here (not a paper row).

  `python -m experiments.train --preset=best_mnist --seeds=3`.
  `best_mnist_pi` trained three times as long (60 epochs, 500 updates
  each) on jittered images: each training image is moved by up to two
  pixels along each axis at every step. The jitter uses the images' 2-D
  layout, so this run is NOT permutation-invariant; `best_mnist_pi` is.
  Training stays strictly local. Chosen on validation accuracy, seed 0
  (RESULTS.md section 7): 98.96 ± 0.04% test over three seeds. Time on the
  2-core development CPU alone: 648 s for three seeds vmapped together
  (10.4 s per epoch); one seed alone ran at 3.3 s per epoch. Not measured on
  a GPU: none was lent to this project.
  """
  return best_mnist_pi().replace(
      shift_pixels=2, epochs=60, eval_every=5, checkpoint_every=5
  )


def best_fmnist() -> Config:
  """The most accurate strictly local Fashion-MNIST run found here.

  `python -m experiments.train --preset=best_fmnist --seeds=3`.
  `best_fmnist_pi` trained 7.5 times as long (150 epochs) on images moved
  by up to one pixel along each axis at every step: NOT
  permutation-invariant. Chosen on validation accuracy against mirror
  images, two-pixel shifts, twice the width, 60 and 100 epochs (RESULTS.md
  section 7): 90.80 ± 0.09% test over three seeds. Time on the 2-core
  development CPU alone: 1540 s for three seeds vmapped together (9.8 s
  per epoch); one seed alone ran at 3.3 s per epoch. Not measured on a
  GPU: none was lent to this project.
  """
  return best_fmnist_pi().replace(
      shift_pixels=1, epochs=150, eval_every=5, checkpoint_every=5
  )


PRESETS: dict[str, Callable[[], Config]] = {
    "quick": quick,
    "baseline_mnist": baseline_mnist,
    "amsga_mnist": amsga_mnist,
    "baseline_fmnist": baseline_fmnist,
    "amsga_fmnist": amsga_fmnist,
    "best_mnist": best_mnist,
    "best_fmnist": best_fmnist,
    "best_mnist_pi": best_mnist_pi,
    "best_fmnist_pi": best_fmnist_pi,
}


def get_preset(name: str) -> Config:
  """The preset's `Config`; a `ValueError` lists the known names."""
  if name not in PRESETS:
    raise ValueError(
        f"Unknown preset {name!r}; known presets: {sorted(PRESETS)}."
    )
  return PRESETS[name]()
