"""Training: compiled chunks of epochs, layer by layer or all at once.

The unit of compiled work is a *chunk*: `lax.scan` over a run of epochs of
one training phase, each epoch a `lax.scan` over its mini-batches (one step
for a full batch). Python sees the run only between chunks, to evaluate,
log and checkpoint. Seeds are a leading axis of every parameter and
optimiser state: a chunk is `vmap`ped over them, so `S` seeds are one
program and one compile.

Two schedules:

- "layerwise" (the paper's): phase `l` trains layer `l` for `E` epochs with
  its own optimiser state while the layers before it are frozen. Its
  inputs, for every image under every label, are computed once when the
  phase starts (`layers.layer_inputs_for_all_labels`), so each epoch only
  gathers the rows its positive and negative labels pick.
- "simultaneous": one phase trains every layer at once, each on the
  detached output of the layer below, each with its own optimiser state.

Negative labels are drawn uniformly each epoch (the paper's), or, with
`negative_labels` "hardest" or "sampled", chosen at every step from the
goodness the current parameters give each label: in the layer-wise schedule
the goodness of the layer being trained (so the choice stays local to it),
in the simultaneous one the network's summed goodness. Scoring every label
costs `C` forward passes of the trained layers per step.

Randomness is a function of (seed, layer, epoch, step) only, through
`fold_in`: a resumed run draws what an uninterrupted one would have.

Inside a chunk, the parameters and optimiser state are a `lax.scan` carry,
which XLA updates in place. Between chunks they are not donated: the state
a `ChunkReport` hands out stays readable after later chunks (for
checkpoints and for callers that keep reports), at the cost of one extra
copy of the parameters, a few megabytes.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import time
from typing import Any
from typing import NamedTuple

from absl import logging
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from amsga_jax import augmentation
from amsga_jax import config as config_lib
from amsga_jax import evaluation
from amsga_jax import labels as labels_lib
from amsga_jax import layers
from amsga_jax import objective
from amsga_jax import readout
from amsga_jax import schedules
from amsga_jax import sharding

Metrics = dict[str, jnp.ndarray]


@flax.struct.dataclass
class TrainState:
  """Parameters and optimiser states of `S` seeds.

  Attributes:
    params: one `{"w": [S, D_in, N], "b": [S, N]}` per layer.
    opt_states: one optax state per layer, every leaf with a leading [S].
  """

  params: tuple[layers.Params, ...]
  opt_states: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Position:
  """How far a run has come: `epoch` epochs done of phase `phase`.

  A layer-wise run has one phase per layer; a simultaneous run has one.
  """

  phase: int = 0
  epoch: int = 0


@dataclasses.dataclass
class ChunkReport:
  """What a finished chunk hands to the caller of `Trainer.run`.

  Attributes:
    position: the position after the chunk.
    trained_layers: the 0-based layers this phase trains.
    first_epoch: the phase's epoch the chunk started at.
    metrics: name -> [S, epochs in chunk, len(trained_layers)] numpy arrays.
    validation_accuracy: [S, L] accuracy from the first `k` layers.
    seconds_per_epoch: wall time of the chunk over its epochs (compilation
      excluded).
    compile_seconds: time spent compiling before this chunk (0 if cached).
    state: the training state after the chunk.
  """

  position: Position
  trained_layers: tuple[int, ...]
  first_epoch: int
  metrics: dict[str, np.ndarray]
  validation_accuracy: np.ndarray
  seconds_per_epoch: float
  compile_seconds: float
  state: TrainState

  @property
  def phase_finished(self) -> bool:
    return self.position.epoch == 0


def seed_keys(config: config_lib.Config) -> jax.Array:
  """[S, 2] keys, seed `config.seed + s` for seed `s`.

  A seed gives the same run whether it trains alone or beside others.
  """
  return jnp.stack(
      [jax.random.PRNGKey(config.seed + s) for s in range(config.num_seeds)]
  )


def steps_per_epoch(config: config_lib.Config, num_examples: int) -> int:
  """Updates per epoch: 1 for a full batch, else `floor(B / batch_size)`.

  Mini-batches are drawn from a fresh permutation each epoch; the
  `B mod batch_size` examples left over by it sit that epoch out.
  """
  if config.is_full_batch:
    return 1
  return num_examples // config.batch_size


def _layer_optimizer(
    config: config_lib.Config, total_steps: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
  schedule = schedules.learning_rate_schedule(
      config.learning_rate,
      total_steps,
      warmup_cosine=config.warmup_cosine,
      warmup_fraction=config.warmup_fraction,
      final_fraction=config.final_lr_fraction,
  )
  optimizer = schedules.layer_optimizer(
      schedule,
      clip_norm=config.clip_norm,
      b1=config.adam_b1,
      b2=config.adam_b2,
  )
  if config.readout == "softmax":
    # The classifier gets an optimiser of its own, so that its gradient
    # never enters the layer's clipping norm.
    optimizer = optax.multi_transform(
        {"layer": optimizer, "readout": optimizer},
        readout.readout_partition,
    )
  return optimizer, schedule


def init_state(
    config: config_lib.Config,
    keys: jax.Array,
    num_examples: int,
    num_classes: int = 10,
) -> TrainState:
  """Kaiming-initialised layers and fresh optimiser states for each seed.

  With `config.readout = "softmax"` each layer also holds a zero
  classifier over the `num_classes` labels (`readout.init_readout`).
  """
  total_steps = config.epochs * steps_per_epoch(config, num_examples)
  optimizer, _ = _layer_optimizer(config, total_steps)

  def for_seed(key):
    network = layers.init_network(
        jax.random.fold_in(key, 0), config.layer_sizes
    )
    if config.readout == "softmax":
      network = [
          {**params, **readout.init_readout(width, num_classes)}
          for params, width in zip(network, config.layer_sizes[1:], strict=True)
      ]
    return tuple(network), tuple(optimizer.init(p) for p in network)

  params, opt_states = jax.vmap(for_seed)(keys)
  return TrainState(params=params, opt_states=opt_states)


def _training_key(seed_key: jax.Array) -> jax.Array:
  return jax.random.fold_in(seed_key, 1)


def _batch_indices(
    key: jax.Array, num_examples: int, batch_size: int, num_steps: int
) -> jnp.ndarray:
  """[steps, batch_size] example indices from a fresh permutation."""
  order = jax.random.permutation(key, num_examples)
  return order[: num_steps * batch_size].reshape(num_steps, batch_size)


def _run_steps(
    step_body: Callable[..., Any],
    carry: Any,
    order_key: jax.Array,
    config: config_lib.Config,
    num_examples: int,
) -> tuple[Any, Metrics]:
  """One epoch of `step_body(carry, (step, batch))`; metrics averaged.

  A full batch is one step with `batch = None`; otherwise a `lax.scan` over
  the mini-batches of a fresh permutation drawn from `order_key`.
  """
  if config.is_full_batch:
    return step_body(carry, (0, None))
  num_steps = steps_per_epoch(config, num_examples)
  batches = _batch_indices(
      order_key, num_examples, config.batch_size, num_steps
  )
  carry, metrics = jax.lax.scan(
      step_body, carry, (jnp.arange(num_steps), batches)
  )
  return carry, jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)


# Folded into an epoch's key for the input jitter's draws, apart from the
# three keys `_epoch_keys` splits off, so runs without jitter draw what they
# drew before it existed.
_JITTER_STREAM = 7


def _epoch_keys(layer_key: jax.Array, epoch: jnp.ndarray):
  epoch_key = jax.random.fold_in(layer_key, epoch)
  negative_key, order_key, selection_key = jax.random.split(epoch_key, 3)
  return negative_key, order_key, selection_key


def layer_goodness_under_every_label(
    params: layers.Params,
    inputs: Any,
    *,
    layer_index: int,
    config: config_lib.Config,
    num_classes: int,
) -> jnp.ndarray:
  """One layer's goodness of each example under each of the `C` labels.

  What a layer-wise phase uses to pick hard negatives: the layer being
  trained scores every label by itself, so the choice stays local to it.

  Args:
    params: the layer's parameters.
    inputs: for the first layer, the `layers.FirstLayerInputs` of [B]
      images; for a later one, the [C, B, N_prev] normalised outputs of the
      frozen layers under every label (`layers.layer_inputs_for_all_labels`).
    layer_index: 0-based index of the layer.
    config: the run's configuration (goodness settings).
    num_classes: `C`.

  Returns:
    [B, C] goodness, as used for prediction.
  """
  if layer_index == 0:
    products = layers.first_layer_products_of_prepared(params, inputs)
    num_examples = inputs.label_scale.shape[0]

    def activations_under(label):
      labels = jnp.full((num_examples,), label, jnp.int32)
      return layers.first_layer_activations(
          params, products, labels, num_classes=num_classes
      )

  else:

    def activations_under(label):
      return layers.hidden_layer(params, inputs[label])

  def goodness_under(label):
    goodness, _ = objective.layer_goodness(
        activations_under(label),
        layer_index=layer_index,
        config=config,
        for_prediction=True,
    )
    return goodness

  return jax.vmap(goodness_under, out_axes=1)(jnp.arange(num_classes))


def prepare_first_layer_inputs(
    images: jnp.ndarray,
    config: config_lib.Config,
    num_classes: int,
    hot_value: float,
) -> layers.FirstLayerInputs:
  """The first layer's chunk input: [B, D] images, normalised once.

  Compiled with the images' sharding, so on several devices each keeps its
  share of the batch.
  """
  prepare = jax.jit(
      lambda images: layers.prepare_first_layer_inputs(
          images,
          num_classes=num_classes,
          hot_value=hot_value,
          epsilon=config.norm_epsilon,
      )
  )
  return prepare(images)


def _rows(inputs: Any, batch: jnp.ndarray | None, layer_index: int):
  """A phase's inputs for one batch (all when `batch` is None).

  The prepared first-layer inputs of `b` images, or the table [C, b, N].
  """
  if batch is None:
    return inputs
  if layer_index == 0:
    return jax.tree.map(lambda leaf: leaf[batch], inputs)
  return inputs[:, batch]


class FrozenNetworkInputs(NamedTuple):
  """A later layer's inputs when the frozen layers run at every step.

  The alternative to the [S, C, B, N_prev] cache of the frozen layers'
  outputs under every label: `C` times less memory, for one forward pass of
  the frozen hidden layers per step (the frozen first layer's product is
  the same under every label, so it is kept).

  Attributes:
    network: the frozen layers `0..l-1`, leaves with a leading [S].
    prepared: the images as `layers.prepare_first_layer_inputs` leaves
      them, shared by the seeds.
    first_shared: [S, B, N_1], the frozen first layer's label-independent
      product.
    positives: [S, B, N_prev], the positives' inputs, which never change.
  """

  network: tuple[layers.Params, ...]
  prepared: layers.FirstLayerInputs
  first_shared: jnp.ndarray
  positives: jnp.ndarray


# The seed axis of each field, for `vmap`.
FROZEN_INPUT_AXES = FrozenNetworkInputs(
    network=0, prepared=None, first_shared=0, positives=0
)


def frozen_cache_bytes(
    config: config_lib.Config,
    layer_index: int,
    *,
    num_examples: int,
    num_classes: int,
    num_devices: int = 1,
) -> int:
  """Bytes per device of layer `layer_index`'s [S, C, B, N_prev] cache."""
  width = config.layer_sizes[layer_index]
  total = config.num_seeds * num_classes * num_examples * width * 4
  return total // num_devices


def caches_frozen_outputs(
    config: config_lib.Config,
    layer_index: int,
    *,
    num_examples: int,
    num_classes: int,
    num_devices: int = 1,
) -> bool:
  """Whether layer `layer_index` reads a cache (True) or recomputes.

  "cache" and "recompute" decide by themselves; "auto" caches when the
  cache fits in `config.frozen_cache_limit_mib` per device. The first layer
  and the simultaneous schedule have no frozen layers: always True.
  """
  if layer_index == 0 or config.frozen_outputs == "cache":
    return True
  if config.frozen_outputs == "recompute":
    return False
  size = frozen_cache_bytes(
      config,
      layer_index,
      num_examples=num_examples,
      num_classes=num_classes,
      num_devices=num_devices,
  )
  return size <= config.frozen_cache_limit_mib * 2**20


def frozen_network_inputs(
    frozen: tuple[layers.Params, ...],
    prepared: layers.FirstLayerInputs,
    labels: jnp.ndarray,
    *,
    num_classes: int,
    epsilon: float,
) -> FrozenNetworkInputs:
  """`FrozenNetworkInputs` of `S` seeds' frozen layers (leading [S]).

  Args:
    frozen: the trained layers before the one to train, leaves [S, ...].
    prepared: the training images' `layers.FirstLayerInputs`.
    labels: [B] true labels.
    num_classes: `C`.
    epsilon: the normalisation's `eps`.
  """

  def for_seed(network):
    shared = layers.first_layer_products_of_prepared(network[0], prepared)
    positives = layers.frozen_outputs(
        list(network),
        shared,
        labels,
        num_classes=num_classes,
        epsilon=epsilon,
    )
    return FrozenNetworkInputs(
        network=network,
        prepared=prepared,
        first_shared=shared.shared,
        positives=positives,
    )

  return jax.vmap(for_seed, out_axes=FROZEN_INPUT_AXES)(frozen)


def make_layerwise_chunk(
    config: config_lib.Config,
    layer_index: int,
    *,
    num_examples: int,
    num_classes: int,
    hot_value: float,
    chunk_length: int,
    cache_frozen_outputs: bool = True,
) -> Callable[..., Any]:
  """A jitted function that trains layer `layer_index` for a chunk of epochs.

  The returned function maps `(params, opt_state, inputs, labels, keys,
  first_epoch)` to `(params, opt_state, metrics)`, where, with `S` seeds:

  - `params`, `opt_state`: the layer's, leaves with a leading [S];
  - `inputs`: for the first layer the images as
    `layers.prepare_first_layer_inputs` leaves them (shared by the seeds);
    for a later layer the [S, C, B, N_prev] normalised outputs of the
    frozen layers under every label, or with `cache_frozen_outputs` False
    the `FrozenNetworkInputs` the frozen layers are run from at each step;
  - `labels`: [B] true labels; `keys`: [S, 2] seed keys;
  - `first_epoch`: the phase's epoch the chunk starts at (traced);
  - `metrics`: name -> [S, chunk_length, 1].
  """
  num_steps = steps_per_epoch(config, num_examples)
  optimizer, schedule = _layer_optimizer(config, config.epochs * num_steps)
  del hot_value  # Already in the prepared first-layer inputs.
  epsilon = config.norm_epsilon
  recompute = layer_index > 0 and not cache_frozen_outputs

  def frozen_rows(frozen, batch, chosen):
    """[b, N_prev] inputs of the batch's images carrying `chosen` labels."""
    products = layers.FirstLayerProducts(
        shared=_rows(frozen.first_shared, batch, 0),
        label_scale=_rows(frozen.prepared.label_scale, batch, 0),
    )
    return layers.frozen_outputs(
        list(frozen.network),
        products,
        chosen,
        num_classes=num_classes,
        epsilon=epsilon,
    )

  def rows_under_every_label(inputs, batch):
    """What `layer_goodness_under_every_label` scores the batch from."""
    if not recompute:
      return _rows(inputs, batch, layer_index)
    rows = num_examples if batch is None else batch.shape[0]
    return jax.lax.map(
        lambda label: frozen_rows(
            inputs, batch, jnp.full((rows,), label, jnp.int32)
        ),
        jnp.arange(num_classes),
    )

  def activations(params, inputs, batch, positive_labels, negative_labels):
    """[b, N] activations of the batch's positives and negatives.

    `inputs` is what `phase_inputs` below made of the chunk's inputs.
    """
    if layer_index == 0:
      products = layers.first_layer_products_of_prepared(
          params, _rows(inputs, batch, 0)
      )
      return tuple(
          layers.first_layer_activations(
              params, products, chosen, num_classes=num_classes
          )
          for chosen in (positive_labels, negative_labels)
      )
    if recompute:
      return (
          layers.hidden_layer(params, _rows(inputs.positives, batch, 0)),
          layers.hidden_layer(
              params, frozen_rows(inputs, batch, negative_labels)
          ),
      )
    table, positive_inputs = inputs
    rows = jnp.arange(num_examples) if batch is None else batch
    return (
        layers.hidden_layer(params, _rows(positive_inputs, batch, 0)),
        layers.hidden_layer(params, table[negative_labels, rows]),
    )

  def phase_inputs(inputs, labels):
    """What every epoch of the chunk reuses, computed once per chunk: for
    a later layer, the table and the rows of it the positives read."""
    if layer_index == 0 or recompute:
      return inputs
    return inputs, inputs[labels, jnp.arange(num_examples)]

  def train_one_seed(params, opt_state, inputs, labels, seed_key, first_epoch):
    layer_key = jax.random.fold_in(_training_key(seed_key), layer_index)
    prepared = phase_inputs(inputs, labels)
    table = prepared if layer_index == 0 or recompute else prepared[0]

    def epoch_body(carry, epoch):
      negative_key, order_key, selection_key = _epoch_keys(layer_key, epoch)
      negative_labels = labels_lib.sample_wrong_labels(
          negative_key, labels, num_classes=num_classes
      )
      progress = epoch / config.epochs
      threshold = objective.threshold_at(layer_index, progress, config)

      def step_body(carry, step_and_batch):
        params, opt_state = carry
        step, batch = step_and_batch
        if batch is None:
          positive_labels, batch_negatives = labels, negative_labels
        else:
          positive_labels, batch_negatives = (
              labels[batch],
              negative_labels[batch],
          )
        if config.negative_labels != "random":
          batch_negatives = labels_lib.hard_wrong_labels(
              jax.random.fold_in(negative_key, step),
              layer_goodness_under_every_label(
                  params,
                  rows_under_every_label(table, batch),
                  layer_index=layer_index,
                  config=config,
                  num_classes=num_classes,
              ),
              positive_labels,
              mode=config.negative_labels,
          )

        def loss_fn(params):
          positive, negative = activations(
              params, prepared, batch, positive_labels, batch_negatives
          )
          return objective.layer_loss(
              positive,
              negative,
              threshold=threshold,
              progress=progress,
              selection_key=jax.random.fold_in(selection_key, step),
              layer_index=layer_index,
              config=config,
          )

        grads, metrics = jax.grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        metrics["grad_norm"] = optax.tree.norm(grads)
        metrics["learning_rate"] = schedule(epoch * num_steps + step)
        return (params, opt_state), metrics

      return _run_steps(step_body, carry, order_key, config, num_examples)

    epochs = first_epoch + jnp.arange(chunk_length)
    (params, opt_state), metrics = jax.lax.scan(
        epoch_body, (params, opt_state), epochs
    )
    metrics = jax.tree.map(lambda m: m[:, None], metrics)
    return params, opt_state, metrics

  if layer_index == 0:
    inputs_axis = None
  else:
    inputs_axis = FROZEN_INPUT_AXES if recompute else 0
  batched = jax.vmap(train_one_seed, in_axes=(0, 0, inputs_axis, None, 0, None))
  return jax.jit(batched)


def make_simultaneous_chunk(
    config: config_lib.Config,
    *,
    num_examples: int,
    num_classes: int,
    hot_value: float,
    chunk_length: int,
) -> Callable[..., Any]:
  """A jitted function that trains every layer at once for a chunk.

  Each layer sees the detached (`stop_gradient`) output of the layer below,
  so its gradient is its own loss's alone; each has its own optimiser
  state. With input jitter on, each step's images are shifted or mirrored
  first (`augmentation`); with the softmax readout on, each layer's
  classifier takes a step on the same images under the neutral label.

  Maps `(params, opt_states, images, labels, keys, first_epoch)` to
  `(params, opt_states, metrics)` with metrics [S, chunk_length, L].
  """
  num_steps = steps_per_epoch(config, num_examples)
  optimizer, schedule = _layer_optimizer(config, config.epochs * num_steps)
  epsilon = config.norm_epsilon
  jitters = config.shift_pixels > 0 or config.mirror

  def train_one_seed(params, opt_states, images, labels, seed_key, first_epoch):
    training_key = _training_key(seed_key)
    # Jittered images are new at every step, so only unjittered ones are
    # normalised once for the whole chunk.
    prepared = None
    if not jitters:
      prepared = layers.prepare_first_layer_inputs(
          images,
          num_classes=num_classes,
          hot_value=hot_value,
          epsilon=epsilon,
      )

    def epoch_body(carry, epoch):
      negative_key, order_key, selection_key = _epoch_keys(training_key, epoch)
      negative_labels = labels_lib.sample_wrong_labels(
          negative_key, labels, num_classes=num_classes
      )
      progress = epoch / config.epochs
      jitter_key = jax.random.fold_in(
          jax.random.fold_in(training_key, epoch), _JITTER_STREAM
      )

      def step_body(carry, step_and_batch):
        params, opt_states = carry
        step, batch = step_and_batch
        batch_images = images if batch is None else images[batch]
        if jitters:
          batch_images = augmentation.jitter_images(
              jax.random.fold_in(jitter_key, step),
              batch_images,
              max_shift=config.shift_pixels,
              mirror=config.mirror,
          )
          batch_prepared = layers.prepare_first_layer_inputs(
              batch_images,
              num_classes=num_classes,
              hot_value=hot_value,
              epsilon=epsilon,
          )
        else:
          batch_prepared = _rows(prepared, batch, 0)
        positive_labels = labels if batch is None else labels[batch]
        batch_negatives = (
            negative_labels if batch is None else negative_labels[batch]
        )
        if config.negative_labels != "random":
          goodness = evaluation.candidate_goodness(
              list(params),
              batch_images,
              config=config,
              num_classes=num_classes,
              hot_value=hot_value,
          )
          batch_negatives = labels_lib.hard_wrong_labels(
              jax.random.fold_in(negative_key, step),
              evaluation.summed_goodness_by_depth(
                  goodness, config.predict_from_layer
              )[..., -1],
              positive_labels,
              mode=config.negative_labels,
          )

        def loss_fn(params):
          total, per_layer = 0.0, []
          for layer_index, layer_params in enumerate(params):
            if layer_index == 0:
              products = layers.first_layer_products_of_prepared(
                  layer_params, batch_prepared
              )
              positive, negative = (
                  layers.first_layer_activations(
                      layer_params, products, chosen, num_classes=num_classes
                  )
                  for chosen in (positive_labels, batch_negatives)
              )
            else:
              positive, negative = (
                  layers.hidden_layer(
                      layer_params,
                      layers.normalize_direction(
                          jax.lax.stop_gradient(below), epsilon
                      ),
                  )
                  for below in (positive, negative)
              )
            loss, metrics = objective.layer_loss(
                positive,
                negative,
                threshold=objective.threshold_at(layer_index, progress, config),
                progress=progress,
                selection_key=jax.random.fold_in(
                    jax.random.fold_in(selection_key, step), layer_index
                ),
                layer_index=layer_index,
                config=config,
            )
            total += loss
            per_layer.append(metrics)

          if config.readout == "softmax":
            activities = readout.neutral_activities(
                jax.lax.stop_gradient(list(params)),
                batch_prepared,
                num_classes=num_classes,
                epsilon=epsilon,
            )
            for layer_params, activity, metrics in zip(
                params, activities, per_layer, strict=True
            ):
              loss, accuracy = readout.readout_loss(
                  layer_params, activity, positive_labels
              )
              total += loss
              metrics["readout_loss"] = loss
              metrics["readout_accuracy"] = accuracy
          return total, per_layer

        grads, per_layer = jax.grad(loss_fn, has_aux=True)(params)
        new_params, new_states = [], []
        for layer_params, layer_grads, state, metrics in zip(
            params, grads, opt_states, per_layer, strict=True
        ):
          updates, state = optimizer.update(layer_grads, state, layer_params)
          new_params.append(optax.apply_updates(layer_params, updates))
          new_states.append(state)
          metrics["grad_norm"] = optax.tree.norm(layer_grads)
          metrics["learning_rate"] = schedule(epoch * num_steps + step)
        stacked = jax.tree.map(lambda *m: jnp.stack(m), *per_layer)
        return (tuple(new_params), tuple(new_states)), stacked

      return _run_steps(step_body, carry, order_key, config, num_examples)

    epochs = first_epoch + jnp.arange(chunk_length)
    (params, opt_states), metrics = jax.lax.scan(
        epoch_body, (params, opt_states), epochs
    )
    return params, opt_states, metrics

  batched = jax.vmap(train_one_seed, in_axes=(0, 0, None, None, 0, None))
  return jax.jit(batched)


class Trainer:
  """Runs a configuration on a dataset, chunk by chunk.

  Usage:

      trainer = Trainer(config, dataset)
      state, position = trainer.initial_state(), Position()
      state, position = trainer.run(state, position, on_chunk=report_fn)

  `on_chunk` receives a `ChunkReport` after every chunk and returns True to
  stop the run there (the caller then saves `report.state` and
  `report.position`; `run` resumes from them exactly).
  """

  def __init__(self, config: config_lib.Config, dataset: Any):
    config.validate()
    if config.layer_sizes[0] != dataset.input_dim:
      raise ValueError(
          f"layer_sizes[0]={config.layer_sizes[0]} must equal the input"
          f" width of {dataset.name}, {dataset.input_dim}."
      )
    if dataset.num_classes >= dataset.input_dim:
      raise ValueError(
          f"{dataset.num_classes} classes leave no pixels beside the label"
          f" embedding in {dataset.input_dim} inputs."
      )
    if config.shift_pixels > 0 or config.mirror:
      side = augmentation.image_side(dataset.input_dim)
      if config.shift_pixels >= side:
        raise ValueError(
            f"shift_pixels={config.shift_pixels} would move {dataset.name}'s"
            f" {side}x{side} images out of the picture; use fewer than"
            f" {side} (1 or 2 are the usual jitter)."
        )
    num_examples = dataset.train_images.shape[0]
    if not config.is_full_batch and config.batch_size > num_examples:
      raise ValueError(
          f"batch_size={config.batch_size} exceeds the {num_examples}"
          " training images; use batch_size=0 for one full batch."
      )
    if config.checkpoint_every % config.eval_every:
      raise ValueError(
          f"checkpoint_every={config.checkpoint_every} must be a multiple of"
          f" eval_every={config.eval_every}: checkpoints are taken between"
          " compiled chunks of eval_every epochs."
      )

    self.config = config
    self.dataset = dataset
    self.num_examples = num_examples
    self.num_classes = dataset.num_classes
    self.hot_value = float(dataset.hot_value)
    self.keys = seed_keys(config)
    self.mesh = sharding.batch_mesh(num_examples, enabled=config.data_parallel)
    self.train_images = sharding.shard_along_batch(
        dataset.train_images, self.mesh
    )
    self.train_labels = sharding.shard_along_batch(
        np.asarray(dataset.train_labels, np.int32), self.mesh
    )
    self.validation_images = jnp.asarray(dataset.validation_images)
    self.validation_labels = jnp.asarray(dataset.validation_labels, jnp.int32)
    self._compiled: dict[tuple[int, int], Any] = {}
    self._executables: dict[tuple[int, int], Any] = {}
    self._evaluate = jax.jit(jax.vmap(self._accuracy, in_axes=(0, None, None)))

  @property
  def num_phases(self) -> int:
    if self.config.schedule == "layerwise":
      return self.config.num_layers
    return 1

  def trained_layers(self, phase: int) -> tuple[int, ...]:
    if self.config.schedule == "layerwise":
      return (phase,)
    return tuple(range(self.config.num_layers))

  def initial_state(self) -> TrainState:
    return sharding.replicate(
        init_state(self.config, self.keys, self.num_examples, self.num_classes),
        self.mesh,
    )

  def _accuracy(self, params, images, labels):
    return evaluation.evaluate_in_batches(
        list(params),
        images,
        labels,
        config=self.config,
        num_classes=self.num_classes,
        hot_value=self.hot_value,
    )

  def accuracy(self, state: TrainState, split: str) -> np.ndarray:
    """[S, L] accuracy from the first `k` layers on "train",
    "validation" or "test"."""
    images, labels = {
        "train": (self.train_images, self.train_labels),
        "validation": (self.validation_images, self.validation_labels),
        "test": (
            jnp.asarray(self.dataset.test_images),
            jnp.asarray(self.dataset.test_labels, jnp.int32),
        ),
    }[split]
    with jax.default_matmul_precision(self.config.matmul_precision):
      return np.asarray(self._evaluate(state.params, images, labels))

  def phase_inputs(self, state: TrainState, phase: int) -> Any:
    """The inputs a phase trains on, computed once when it starts.

    Layer-wise phase 0: the training images as
    `layers.prepare_first_layer_inputs` leaves them. Layer-wise phase
    `l > 0`: [S, C, B, N_prev], the normalised output of layers `0..l-1`
    for every image under every label, or the `FrozenNetworkInputs` to
    recompute them from when that table is not cached
    (`caches_frozen_outputs`). The simultaneous phase: the images.
    """
    if self.config.schedule != "layerwise":
      return self.train_images
    prepared = prepare_first_layer_inputs(
        self.train_images, self.config, self.num_classes, self.hot_value
    )
    if phase == 0:
      return prepared
    frozen = state.params[:phase]
    if not self.caches_frozen_outputs(phase):
      build = jax.jit(
          lambda frozen, prepared, labels: frozen_network_inputs(
              frozen,
              prepared,
              labels,
              num_classes=self.num_classes,
              epsilon=self.config.norm_epsilon,
          )
      )
      with jax.default_matmul_precision(self.config.matmul_precision):
        return build(frozen, prepared, self.train_labels)
    del prepared
    out_shardings = (
        None if self.mesh is None else sharding.batch_sharding(self.mesh, 4, 2)
    )
    build = jax.jit(
        jax.vmap(
            lambda network, images: layers.layer_inputs_for_all_labels(
                list(network),
                images,
                num_classes=self.num_classes,
                hot_value=self.hot_value,
                epsilon=self.config.norm_epsilon,
            ),
            in_axes=(0, None),
        ),
        out_shardings=out_shardings,
    )
    with jax.default_matmul_precision(self.config.matmul_precision):
      return build(frozen, self.train_images)

  def caches_frozen_outputs(self, phase: int) -> bool:
    """Whether layer-wise phase `phase` reads a frozen-output cache."""
    return caches_frozen_outputs(
        self.config,
        phase,
        num_examples=self.num_examples,
        num_classes=self.num_classes,
        num_devices=1 if self.mesh is None else self.mesh.size,
    )

  def _log_frozen_outputs(self, phase: int) -> None:
    size = frozen_cache_bytes(
        self.config,
        phase,
        num_examples=self.num_examples,
        num_classes=self.num_classes,
        num_devices=1 if self.mesh is None else self.mesh.size,
    )
    how = (
        "from a cache"
        if self.caches_frozen_outputs(phase)
        else "recomputed at every step instead of from a cache"
    )
    logging.info(
        "Layer %d: the frozen layers' outputs are %s of %.0f MiB per device"
        " (--frozen_outputs=%s, limit %d MiB).",
        phase + 1,
        how,
        size / 2**20,
        self.config.frozen_outputs,
        self.config.frozen_cache_limit_mib,
    )

  def _chunk_function(self, phase: int, chunk_length: int):
    key = (phase, chunk_length)
    if key not in self._compiled:
      common = dict(
          num_examples=self.num_examples,
          num_classes=self.num_classes,
          hot_value=self.hot_value,
          chunk_length=chunk_length,
      )
      if self.config.schedule == "layerwise":
        self._compiled[key] = make_layerwise_chunk(
            self.config,
            phase,
            cache_frozen_outputs=self.caches_frozen_outputs(phase),
            **common,
        )
      else:
        self._compiled[key] = make_simultaneous_chunk(self.config, **common)
    return self._compiled[key]

  def _run_chunk(self, state, phase, inputs, first_epoch, chunk_length):
    """Trains one chunk; returns the new state, metrics and timings."""
    function = self._chunk_function(phase, chunk_length)
    layerwise = self.config.schedule == "layerwise"
    params = state.params[phase] if layerwise else state.params
    opt_state = state.opt_states[phase] if layerwise else state.opt_states
    arguments = (
        params,
        opt_state,
        inputs,
        self.train_labels,
        self.keys,
        jnp.asarray(first_epoch, jnp.int32),
    )

    # Compile ahead of time, so the timing below is of training alone.
    start = time.perf_counter()
    compiled = self._executables.get((phase, chunk_length))
    if compiled is None:
      compiled = function.lower(*arguments).compile()
      self._executables[(phase, chunk_length)] = compiled
    compile_seconds = time.perf_counter() - start

    start = time.perf_counter()
    params, opt_state, metrics = compiled(*arguments)
    metrics = jax.device_get(metrics)
    seconds = time.perf_counter() - start

    if layerwise:
      new_params = list(state.params)
      new_states = list(state.opt_states)
      new_params[phase], new_states[phase] = params, opt_state
      state = TrainState(params=tuple(new_params), opt_states=tuple(new_states))
    else:
      state = TrainState(params=params, opt_states=opt_state)
    return state, metrics, seconds, compile_seconds

  def run(
      self,
      state: TrainState,
      position: Position,
      *,
      on_chunk: Callable[[ChunkReport], bool] | None = None,
  ) -> tuple[TrainState, Position]:
    """Trains from `position` to the end, or until `on_chunk` says stop."""
    config = self.config
    state = sharding.replicate(state, self.mesh)
    with jax.default_matmul_precision(config.matmul_precision):
      while position.phase < self.num_phases:
        phase = position.phase
        inputs = self.phase_inputs(state, phase)
        if config.schedule == "layerwise" and phase > 0:
          self._log_frozen_outputs(phase)

        while True:
          first_epoch = position.epoch
          chunk_length = min(
              config.eval_every - first_epoch % config.eval_every,
              config.epochs - first_epoch,
          )
          state, metrics, seconds, compile_seconds = self._run_chunk(
              state, phase, inputs, first_epoch, chunk_length
          )

          epoch = first_epoch + chunk_length
          finished = epoch == config.epochs
          position = (
              Position(phase + 1, 0) if finished else Position(phase, epoch)
          )
          report = ChunkReport(
              position=position,
              trained_layers=self.trained_layers(phase),
              first_epoch=first_epoch,
              metrics={k: np.asarray(v) for k, v in metrics.items()},
              validation_accuracy=np.asarray(
                  self._evaluate(
                      state.params,
                      self.validation_images,
                      self.validation_labels,
                  )
              ),
              seconds_per_epoch=seconds / chunk_length,
              compile_seconds=compile_seconds,
              state=state,
          )
          stop = on_chunk(report) if on_chunk is not None else False
          if stop:
            return state, position
          if finished:
            break
        del inputs
    return state, position
