"""A backprop MLP baseline, kept apart from the Forward-Forward code.

`python -m experiments.backprop --dataset=mnist --layers=784,1000,1000`

The same data, split and hidden widths as an FF run, trained end to end by
backpropagation of a softmax cross-entropy through every layer: the gap
between FF and backprop is then measured on this machine, not quoted.
Hidden layers are ReLU, the output layer linear with one unit per class;
Adam with a cosine-decayed learning rate; shuffled mini-batches. Seeds are
vmapped. The reported test accuracy is that of the epoch with the best
validation accuracy (the test set picks nothing). `--shift_pixels` and
`--mirror` jitter the training images exactly as the FF runs' switches of
the same names do (`amsga_jax.augmentation`), so a jittered FF run has a
jittered backprop run to be measured against.

Nothing here is imported by `amsga_jax` or the FF experiments.
"""

from __future__ import annotations

import json
import time

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from amsga_jax import augmentation
from amsga_jax import data as data_lib
from experiments import run

Params = list[dict[str, jnp.ndarray]]
FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags; defined only when it runs as a program, so that
  importing this module next to the FF runner defines nothing twice."""
  flags.DEFINE_string("dataset", "mnist", "mnist, fashion_mnist or digits.")
  flags.DEFINE_string("data_dir", None, "Where to look first.")
  flags.DEFINE_list(
      "layers",
      "784,1000,1000",
      "Input width, then the hidden widths; the output layer is added.",
  )
  flags.DEFINE_integer("epochs", 20, "Passes over the training set.")
  flags.DEFINE_integer("batch_size", 100, "Examples per update.")
  flags.DEFINE_float("lr", 1e-3, "Adam's initial rate.")
  flags.DEFINE_integer("seeds", 3, "Seeds trained as one program.")
  flags.DEFINE_integer("seed", 0, "First seed.")
  flags.DEFINE_integer(
      "shift_pixels", 0, "Shift training images by up to this many pixels."
  )
  flags.DEFINE_boolean(
      "mirror", False, "Mirror training images left-right at random."
  )
  flags.DEFINE_string("output", None, "Write the results as JSON to this file.")


def init_mlp(key: jax.Array, layer_sizes: tuple[int, ...]) -> Params:
  """He-initialised layers `{"w": [D_in, D_out], "b": [D_out]}`."""
  keys = jax.random.split(key, len(layer_sizes) - 1)
  return [
      {
          "w": jnp.sqrt(2.0 / fan_in)
          * jax.random.normal(layer_key, (fan_in, fan_out), jnp.float32),
          "b": jnp.zeros((fan_out,), jnp.float32),
      }
      for layer_key, fan_in, fan_out in zip(
          keys, layer_sizes[:-1], layer_sizes[1:], strict=True
      )
  ]


def mlp_logits(params: Params, images: jnp.ndarray) -> jnp.ndarray:
  """[B, D] images -> [B, C] logits: ReLU hidden layers, linear output."""
  activity = images
  for layer in params[:-1]:
    activity = jax.nn.relu(activity @ layer["w"] + layer["b"][None, :])
  return activity @ params[-1]["w"] + params[-1]["b"][None, :]


def cross_entropy(
    params: Params, images: jnp.ndarray, labels: jnp.ndarray
) -> jnp.ndarray:
  """Mean softmax cross-entropy of [B, D] images with [B] labels."""
  logits = mlp_logits(params, images)
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_epoch(
    optimizer: optax.GradientTransformation,
    num_examples: int,
    batch_size: int,
    *,
    shift_pixels: int = 0,
    mirror: bool = False,
):
  """A jitted epoch over `S` vmapped seeds.

  Maps `(params, opt_state, images, labels, keys)` (params and opt_state
  with a leading [S], keys [S, 2] of this epoch) to the new
  `(params, opt_state, mean loss [S])`. With `shift_pixels` or `mirror`,
  each step's images are jittered first (`augmentation.jitter_images`).
  """
  num_steps = num_examples // batch_size
  jitters = shift_pixels > 0 or mirror

  def one_seed(params, opt_state, images, labels, key):
    # The jitter draws from a key of its own, so that runs without it
    # shuffle as they did before it existed.
    jitter_key = jax.random.fold_in(key, 7)
    order = jax.random.permutation(key, num_examples)
    batches = order[: num_steps * batch_size].reshape(num_steps, batch_size)

    def step(carry, step_and_batch):
      params, opt_state = carry
      step_index, batch = step_and_batch
      batch_images = images[batch]
      if jitters:
        batch_images = augmentation.jitter_images(
            jax.random.fold_in(jitter_key, step_index),
            batch_images,
            max_shift=shift_pixels,
            mirror=mirror,
        )
      loss, grads = jax.value_and_grad(cross_entropy)(
          params, batch_images, labels[batch]
      )
      updates, opt_state = optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(
        step, (params, opt_state), (jnp.arange(num_steps), batches)
    )
    return params, opt_state, losses.mean()

  return jax.jit(jax.vmap(one_seed, in_axes=(0, 0, None, None, 0)))


@jax.jit
def seed_accuracies(
    params: Params, images: jnp.ndarray, labels: jnp.ndarray
) -> jnp.ndarray:
  """[S] accuracy of each seed's network on [B, D] images."""

  def one_seed(params):
    predictions = jnp.argmax(mlp_logits(params, images), axis=-1)
    return jnp.mean(predictions == labels)

  return jax.vmap(one_seed)(params)


def train(
    dataset: data_lib.Dataset,
    *,
    layer_sizes: tuple[int, ...],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seeds: tuple[int, ...],
    shift_pixels: int = 0,
    mirror: bool = False,
) -> dict:
  """Trains one MLP per seed; returns per-epoch curves and the final pick.

  Raises:
    ValueError: if the widths or batch size do not fit the dataset.
  """
  if layer_sizes[0] != dataset.input_dim:
    raise ValueError(
        f"The input width {layer_sizes[0]} must equal {dataset.name}'s"
        f" {dataset.input_dim}."
    )
  num_examples = dataset.train_images.shape[0]
  if not 0 < batch_size <= num_examples:
    raise ValueError(
        f"batch_size={batch_size} must lie in [1, {num_examples}]."
    )
  sizes = (*layer_sizes, dataset.num_classes)
  total_steps = epochs * (num_examples // batch_size)
  optimizer = optax.adam(
      optax.cosine_decay_schedule(learning_rate, total_steps)
  )
  if shift_pixels < 0:
    raise ValueError(f"shift_pixels={shift_pixels} must be 0 or more.")
  if shift_pixels or mirror:
    side = augmentation.image_side(dataset.input_dim)
    if shift_pixels >= side:
      raise ValueError(
          f"shift_pixels={shift_pixels} must be below the image side {side}."
      )
  epoch_fn = make_epoch(
      optimizer,
      num_examples,
      batch_size,
      shift_pixels=shift_pixels,
      mirror=mirror,
  )

  keys = jnp.stack([jax.random.PRNGKey(seed) for seed in seeds])
  params = jax.vmap(lambda key: init_mlp(key, sizes))(keys)
  opt_state = jax.vmap(optimizer.init)(params)
  splits = {
      name: (jnp.asarray(images), jnp.asarray(labels, jnp.int32))
      for name, images, labels in (
          ("train", dataset.train_images, dataset.train_labels),
          ("validation", dataset.validation_images, dataset.validation_labels),
          ("test", dataset.test_images, dataset.test_labels),
      )
  }

  curves = {"validation": [], "test": [], "loss": [], "seconds": []}
  for epoch in range(epochs):
    start = time.perf_counter()
    epoch_keys = jax.vmap(lambda key, e=epoch: jax.random.fold_in(key, e))(keys)
    params, opt_state, loss = epoch_fn(
        params, opt_state, *splits["train"], epoch_keys
    )
    loss = np.asarray(loss)
    curves["seconds"].append(time.perf_counter() - start)
    curves["loss"].append(loss.tolist())
    for split in ("validation", "test"):
      accuracy = np.asarray(seed_accuracies(params, *splits[split]))
      curves[split].append(accuracy.tolist())
    logging.info(
        "epoch %d/%d | loss %.4f | val %.4f | %.1f s",
        epoch + 1,
        epochs,
        loss.mean(),
        np.mean(curves["validation"][-1]),
        curves["seconds"][-1],
    )

  validation = np.asarray(curves["validation"])  # [epochs, S]
  test = np.asarray(curves["test"])
  best = validation.argmax(axis=0)  # Per seed, chosen on validation.
  chosen_validation = validation[best, np.arange(len(seeds))]
  chosen_test = test[best, np.arange(len(seeds))]
  return {
      "layer_sizes": list(sizes),
      "epochs": epochs,
      "batch_size": batch_size,
      "learning_rate": learning_rate,
      "shift_pixels": shift_pixels,
      "mirror": mirror,
      "seeds": list(seeds),
      "best_epoch": (best + 1).tolist(),
      "validation_accuracy": _summary(chosen_validation),
      "test_accuracy": _summary(chosen_test),
      "train_seconds": float(np.sum(curves["seconds"])),
      "curves": curves,
  }


def _summary(values: np.ndarray) -> dict:
  return {
      "mean": float(np.mean(values)),
      "std": float(np.std(values)),
      "per_seed": [float(v) for v in values],
  }


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  try:
    layer_sizes = tuple(int(width) for width in FLAGS.layers)
    if FLAGS.epochs < 1 or FLAGS.seeds < 1:
      raise ValueError("--epochs and --seeds must be positive.")
    dataset = data_lib.load_dataset(FLAGS.dataset, FLAGS.data_dir)
    results = train(
        dataset,
        layer_sizes=layer_sizes,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.lr,
        seeds=tuple(range(FLAGS.seed, FLAGS.seed + FLAGS.seeds)),
        shift_pixels=FLAGS.shift_pixels,
        mirror=FLAGS.mirror,
    )
  except (ValueError, data_lib.DataError) as error:
    raise SystemExit(f"error: {error}") from None

  results["dataset"] = FLAGS.dataset
  results["environment"] = run.environment()
  test = results["test_accuracy"]
  print(
      f"backprop MLP {'-'.join(map(str, results['layer_sizes']))}: test"
      f" {test['mean']:.4f} ± {test['std']:.4f} over"
      f" {len(results['seeds'])} seeds, {results['train_seconds']:.0f} s"
  )
  if FLAGS.output:
    with open(FLAGS.output, "w") as file:
      json.dump(results, file, indent=2)


if __name__ == "__main__":
  define_flags()
  app.run(main)
