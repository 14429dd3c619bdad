"""Speed benchmark: epoch times, achieved FLOP rates, memory and scaling.

`python -m experiments.benchmark` times the library's own compiled chunks
(`training.make_layerwise_chunk`) layer by layer on one configuration (by
default the paper's full-batch AMSGA MNIST, `--preset=amsga_mnist`) and
prints Markdown tables to paste into RESULTS.md:

- the machine's matmul rate: a large square product and each layer's
  forward (`[B, D_in] @ [D_in, N]`) and weight-gradient
  (`[D_in, B] @ [B, N]`) products, best of `--repeats` after a warm-up;
- per layer: seconds per epoch, achieved GFLOP/s, its fraction of the best
  matmul rate measured, and memory (XLA's buffer sizes of the compiled
  chunk against what an epoch must hold);
- the time of an epoch against the number of full-batch examples, against
  the hidden width, and against the number of vmapped seeds;
- the extra cost of AMSGA's four components over the Forward-Forward
  baseline with the same architecture.

Only ratios measured within one run mean much on a shared machine: absolute
times move with whatever else runs beside it. The environment (and the load
average before and after) is recorded with the results; `--output=FILE`
writes them as JSON.

FLOPs are counted as the plain computation would do them. An epoch of a
layer with input width `D_in`, width `N` and `B` examples trained per epoch
runs, for each of `S` seeds,

- the forward products of its positives and of its negatives,
  `2 * (2 B D_in N)`;
- the weight gradients of both, `2 * (2 B D_in N)`;

`8 S B D_in N` in all. Forward-Forward needs no gradient with respect to a
layer's input, so none is counted; neither is elementwise work
(normalisation, goodness, curriculum, Adam). The first layer's factored form
(`amsga_jax.layers`) shares one product between positives and negatives and
skips the `C` label inputs, about half the plain work, so its achieved rate
flatters it and may exceed the matmul rate.

Timing: each measurement compiles its chunk ahead of time, discards the
first call, and takes the median over `--repeats` calls of a chunk of
`--chunk_epochs` epochs (with `jax.block_until_ready`). The configuration,
its AMSGA form and its baseline form alternate call by call, layer by
layer, so that their ratio survives a change in the machine's load; the
scaling sweeps' settings are timed one after another. A later layer's
input, the `[S, C, B, N_prev]` table of frozen-layer outputs under every
label, is filled with random normalised rows: an epoch's cost does not
depend on the values. `--data=synthetic` (the default) likewise draws
random standardised images and labels of MNIST's shape, so the benchmark
needs no dataset; `--data=mnist` trains the first layer on real images.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
import time
from typing import Any

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from amsga_jax import Config
from amsga_jax import data as data_lib
from amsga_jax import sharding
from amsga_jax import training
from amsga_jax.config import MATMUL_PRECISIONS
from experiments import presets

SYNTHETIC = "synthetic"
SYNTHETIC_TRAIN_SIZE = 50_000  # MNIST's training split.
SYNTHETIC_NUM_CLASSES = 10
AMSGA_SWITCHES = (
    "multiscale",
    "curriculum",
    "adaptive_threshold",
    "warmup_cosine",
)
FLOAT32_BYTES = 4
MEBIBYTE = 2**20


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines the benchmark's flags (called by `python -m`, not on import).

  Defined on demand so that importing this module beside
  `experiments.train`, whose flags share some of these names, is safe.
  """
  flags.DEFINE_enum(
      "preset",
      "amsga_mnist",
      sorted(presets.PRESETS),
      "Configuration to benchmark; the flags below override its values.",
      flag_values=flag_values,
  )
  flags.DEFINE_list(
      "layers",
      None,
      "Widths, input first, e.g. 784,600,600,500.",
      flag_values=flag_values,
  )
  flags.DEFINE_integer(
      "batch_size",
      None,
      "Examples per update; 0 trains on one full batch.",
      flag_values=flag_values,
  )
  flags.DEFINE_integer(
      "train_size",
      None,
      "Training examples; 0: all (50 000 synthetic, or the dataset's).",
      flag_values=flag_values,
  )
  flags.DEFINE_integer(
      "seeds",
      None,
      "Seeds trained together as one vmapped program.",
      flag_values=flag_values,
  )
  flags.DEFINE_enum(
      "precision",
      None,
      list(MATMUL_PRECISIONS),
      "Matmul precision of the training and of the matmul-rate products.",
      flag_values=flag_values,
  )
  flags.DEFINE_integer(
      "repeats",
      5,
      "Timed calls per measurement after the discarded first one (median);"
      " timed matmuls per product (best).",
      flag_values=flag_values,
  )
  flags.DEFINE_integer(
      "chunk_epochs",
      2,
      "Epochs per compiled chunk, the unit that is timed.",
      flag_values=flag_values,
  )
  flags.DEFINE_list(
      "batch_sizes",
      ["5000", "10000", "25000", "50000"],
      "Full-batch example counts of the batch-size scaling.",
      flag_values=flag_values,
  )
  flags.DEFINE_list(
      "widths",
      ["250", "500", "1000"],
      "Hidden widths (every hidden layer) of the width scaling.",
      flag_values=flag_values,
  )
  flags.DEFINE_list(
      "seed_counts",
      ["1", "3"],
      "Numbers of vmapped seeds of the seed scaling.",
      flag_values=flag_values,
  )
  flags.DEFINE_integer(
      "square_size",
      4096,
      "Size of the square matmul that measures the rate.",
      flag_values=flag_values,
  )
  flags.DEFINE_boolean(
      "skip_scaling",
      False,
      "Skip the batch-size, width and seed scaling.",
      flag_values=flag_values,
  )
  flags.DEFINE_string(
      "data",
      SYNTHETIC,
      "synthetic (random images of MNIST's shape) or a dataset name for"
      " amsga_jax.data.load_dataset (mnist, fashion_mnist, digits).",
      flag_values=flag_values,
  )
  flags.DEFINE_string(
      "data_dir",
      None,
      "Folder with the dataset's IDX files, for --data.",
      flag_values=flag_values,
  )
  flags.DEFINE_string(
      "output",
      None,
      "Write the results as JSON to this file.",
      flag_values=flag_values,
  )


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingData:
  """Images and labels a benchmark trains its first layer on.

  Attributes:
    images: [B_max, D] float32 standardised images.
    labels: [B_max] int32 labels in [0, num_classes).
    num_classes: `C`.
    hot_value: the label embedding's hot value.
    source: "synthetic" or the dataset's name.
  """

  images: jnp.ndarray
  labels: jnp.ndarray
  num_classes: int
  hot_value: float
  source: str

  @property
  def num_examples(self) -> int:
    return int(self.images.shape[0])


@dataclasses.dataclass(frozen=True)
class LayerMeasurement:
  """The timing and memory of one layer's epoch under one configuration.

  Attributes:
    layer_index: the 0-based layer.
    num_examples: `B`, the training examples.
    rows_per_step: examples per update (`B` for a full batch).
    examples_per_epoch: `steps * rows_per_step`, the examples an epoch
      trains on (mini-batches drop `B mod batch_size`).
    input_width: `D_in`.
    width: `N`.
    num_seeds: `S`.
    seconds_per_epoch: the median over the timed calls.
    call_seconds_per_epoch: each timed call's seconds over its epochs.
    compile_seconds: lowering and compiling the chunk.
    flops_per_epoch: `8 S examples_per_epoch D_in N`, the plain count.
    argument_bytes, output_bytes, alias_bytes, temp_bytes: XLA's
      `memory_analysis()` of the compiled chunk, per device.
    required: bytes an epoch must hold per device: "inputs", "params",
      "opt_state", "activations" (positives and negatives of one step).
    num_devices: devices the batch is split over (`Config.data_parallel`
      on a host with several).
  """

  layer_index: int
  num_examples: int
  rows_per_step: int
  examples_per_epoch: int
  input_width: int
  width: int
  num_seeds: int
  seconds_per_epoch: float
  call_seconds_per_epoch: tuple[float, ...]
  compile_seconds: float
  flops_per_epoch: int
  argument_bytes: int
  output_bytes: int
  alias_bytes: int
  temp_bytes: int
  required: dict[str, int]
  num_devices: int = 1

  @property
  def peak_bytes(self) -> int:
    """Argument + output + temp bytes of the compiled chunk."""
    return self.argument_bytes + self.output_bytes + self.temp_bytes

  @property
  def required_bytes(self) -> int:
    return sum(self.required.values())

  @property
  def gflops_per_second(self) -> float:
    return self.flops_per_epoch / self.seconds_per_epoch / 1e9


def environment() -> dict[str, Any]:
  """Where the benchmark ran: versions, backend, device and CPUs."""
  devices = jax.devices()
  return {
      "jax_version": jax.__version__,
      "backend": jax.default_backend(),
      "device_kind": devices[0].device_kind,
      "device_count": len(devices),
      "cpu_count": os.cpu_count(),
      "machine": platform.machine(),
      "python": platform.python_version(),
  }


def rows_per_step(config: Config, num_examples: int) -> int:
  """Examples per update: all `num_examples` for a full batch."""
  return num_examples if config.is_full_batch else config.batch_size


def examples_per_epoch(config: Config, num_examples: int) -> int:
  """`steps * rows_per_step`: mini-batches drop `B mod batch_size`."""
  steps = training.steps_per_epoch(config, num_examples)
  return steps * rows_per_step(config, num_examples)


def epoch_flops(config: Config, layer_index: int, num_examples: int) -> int:
  """`8 S B D_in N`, the plain FLOPs of an epoch of layer `layer_index`.

  `B` is the number of examples the epoch trains on: all `num_examples`
  for a full batch, `steps * batch_size` for mini-batches.
  """
  examples = examples_per_epoch(config, num_examples)
  input_width, width = config.layer_sizes[layer_index : layer_index + 2]
  return 8 * config.num_seeds * examples * input_width * width


def matmul_rate(rows: int, inner: int, columns: int, *, repeats: int) -> float:
  """GFLOP/s of `[rows, inner] @ [inner, columns]`, best of `repeats`.

  Runs under the caller's `jax.default_matmul_precision`; the first call
  (compilation and warm-up) is not timed.
  """
  rng = np.random.default_rng(0)
  left = jnp.asarray(rng.standard_normal((rows, inner), np.float32))
  right = jnp.asarray(rng.standard_normal((inner, columns), np.float32))
  product = jax.jit(jnp.matmul).lower(left, right).compile()
  jax.block_until_ready(product(left, right))

  best = math.inf
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(product(left, right))
    best = min(best, time.perf_counter() - start)
  return 2 * rows * inner * columns / best / 1e9


def synthetic_data(
    num_examples: int, input_width: int, *, seed: int = 0
) -> TrainingData:
  """Random standard-normal images and uniform labels of `C = 10` classes.

  Returns:
    `TrainingData` of [num_examples, input_width] images, hot value their
    largest entry (as the library defines it for real data).
  """
  rng = np.random.default_rng(seed)
  images = rng.standard_normal((num_examples, input_width), np.float32)
  labels = rng.integers(0, SYNTHETIC_NUM_CLASSES, num_examples, np.int32)
  return TrainingData(
      images=jnp.asarray(images),
      labels=jnp.asarray(labels),
      num_classes=SYNTHETIC_NUM_CLASSES,
      hot_value=float(images.max()),
      source=SYNTHETIC,
  )


def load_training_data(
    name: str, config: Config, *, data_dir: str | None = None
) -> TrainingData:
  """The training split of a dataset, as `load_dataset` prepares it."""
  dataset = data_lib.load_dataset(
      name,
      data_dir,
      validation_size=config.validation_size or None,
      split_seed=config.split_seed,
      train_size=config.train_size or None,
  )
  if dataset.input_dim != config.layer_sizes[0]:
    raise ValueError(
        f"layer_sizes[0]={config.layer_sizes[0]} must equal the input width"
        f" of {dataset.name}, {dataset.input_dim}."
    )
  return TrainingData(
      images=jnp.asarray(dataset.train_images),
      labels=jnp.asarray(dataset.train_labels, jnp.int32),
      num_classes=dataset.num_classes,
      hot_value=float(dataset.hot_value),
      source=dataset.name,
  )


def _random_table(key: jax.Array, shape: tuple[int, ...]) -> jnp.ndarray:
  """Non-negative random rows of unit norm, like normalised ReLU outputs."""
  rows = jax.random.uniform(key, shape, jnp.float32)
  return rows / jnp.linalg.norm(rows, axis=-1, keepdims=True)


_random_table_jit = jax.jit(_random_table, static_argnums=1)


def layer_inputs(
    config: Config,
    layer_index: int,
    images: jnp.ndarray,
    labels: jnp.ndarray,
    num_classes: int,
    hot_value: float,
    *,
    cached: bool = True,
) -> Any:
  """What the layer's chunk reads: the images, or the frozen layers' outputs.

  Args:
    config: the configuration (its widths and number of seeds).
    layer_index: the 0-based layer.
    images: [B, D] images.
    labels: [B] labels.
    num_classes: `C`.
    hot_value: the label embedding's hot value.
    cached: for a later layer, a cache of the frozen layers' outputs
      (True) or the `training.FrozenNetworkInputs` to recompute them from.

  Returns:
    For the first layer the images as `layers.prepare_first_layer_inputs`
    leaves them; for a later one a random [S, C, B, N_prev] table of
    normalised rows, or `FrozenNetworkInputs` of freshly initialised frozen
    layers. An epoch's cost does not depend on the values.
  """
  prepared = training.prepare_first_layer_inputs(
      images, config, num_classes, hot_value
  )
  if layer_index == 0:
    return prepared
  if not cached:
    keys = training.seed_keys(config)
    frozen = training.init_state(config, keys, images.shape[0]).params
    build = jax.jit(
        lambda frozen, prepared, labels: training.frozen_network_inputs(
            frozen,
            prepared,
            labels,
            num_classes=num_classes,
            epsilon=config.norm_epsilon,
        )
    )
    return build(frozen[:layer_index], prepared, labels)
  shape = (
      config.num_seeds,
      num_classes,
      images.shape[0],
      config.layer_sizes[layer_index],
  )
  return _random_table_jit(jax.random.PRNGKey(layer_index), shape)


def _tree_bytes(tree: Any) -> int:
  return sum(leaf.nbytes for leaf in jax.tree.leaves(tree))


def _shard_inputs(
    inputs: Any, layer_index: int, mesh: jax.sharding.Mesh | None
) -> Any:
  """Splits a layer's inputs along their batch axis over the mesh."""
  if mesh is None:
    return inputs
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  if layer_index == 0:
    shardings = jax.tree.map(
        lambda leaf: sharding.batch_sharding(mesh, leaf.ndim, 0), inputs
    )
  elif isinstance(inputs, training.FrozenNetworkInputs):
    shardings = training.FrozenNetworkInputs(
        network=jax.tree.map(lambda _: replicated, inputs.network),
        prepared=jax.tree.map(
            lambda leaf: sharding.batch_sharding(mesh, leaf.ndim, 0),
            inputs.prepared,
        ),
        first_shared=sharding.batch_sharding(mesh, 3, 1),
        positives=sharding.batch_sharding(mesh, 3, 1),
    )
  else:
    shardings = sharding.batch_sharding(mesh, 4, 2)
  return jax.device_put(inputs, shardings)


def _chunk_start(call: int, chunk_epochs: int, epochs: int) -> int:
  """The first epoch of timed call `call`, kept within the run's epochs."""
  return (call * chunk_epochs) % max(epochs - chunk_epochs + 1, 1)


@dataclasses.dataclass
class _PreparedChunk:
  """A compiled chunk of one configuration and the state it trains.

  `params` and `opt_state` are replaced after every call: the chunk
  donates them.
  """

  config: Config
  compiled: Any
  compile_seconds: float
  memory: Any
  params: Any
  opt_state: Any
  inputs: Any
  call_seconds: list[float] = dataclasses.field(default_factory=list)


class LayerTimer:
  """Measures layers' epochs on fixed data; caches every measurement.

  A measurement is a function of the configuration, the layer and the
  number of examples, so the scaling sweeps and the AMSGA comparison reuse
  the main table's measurements where they coincide. Configurations of the
  same shape measured together (`measure_together`) have their timed calls
  interleaved, so that a change in the machine's load moves them alike.
  """

  def __init__(self, data: TrainingData, *, repeats: int, chunk_epochs: int):
    if repeats < 1 or chunk_epochs < 1:
      raise ValueError(
          f"repeats={repeats} and chunk_epochs={chunk_epochs} must be"
          " positive."
      )
    self.data = data
    self.repeats = repeats
    self.chunk_epochs = chunk_epochs
    self._cache: dict[tuple[Config, int, int], LayerMeasurement] = {}

  def measure_network(
      self, config: Config, num_examples: int
  ) -> list[LayerMeasurement]:
    """Each layer's measurement, layer after layer."""
    return [
        self.measure(config, layer_index, num_examples)
        for layer_index in range(config.num_layers)
    ]

  def measure(
      self, config: Config, layer_index: int, num_examples: int
  ) -> LayerMeasurement:
    """Times an epoch of layer `layer_index` on the first `num_examples`."""
    (measurement,) = self.measure_together([config], layer_index, num_examples)
    return measurement

  def measure_together(
      self, configs: list[Config], layer_index: int, num_examples: int
  ) -> list[LayerMeasurement]:
    """Times configurations of one architecture with interleaved calls.

    Args:
      configs: configurations that share `layer_sizes`, `num_seeds` and
        `data_parallel` (e.g. AMSGA and its baseline); those measured
        before come from the cache.
      layer_index: the 0-based layer.
      num_examples: the first `num_examples` of the data.

    Returns:
      One measurement per configuration, in order.
    """
    missing = [
        config
        for config in dict.fromkeys(configs)
        if (config, layer_index, num_examples) not in self._cache
    ]
    if missing:
      measured = self._measure_interleaved(missing, layer_index, num_examples)
      for config, measurement in zip(missing, measured, strict=True):
        self._cache[config, layer_index, num_examples] = measurement
    return [
        self._cache[config, layer_index, num_examples] for config in configs
    ]

  def _measure_interleaved(
      self, configs: list[Config], layer_index: int, num_examples: int
  ) -> list[LayerMeasurement]:
    """Prepares every configuration's chunk, then times them in turns."""
    first = configs[0]
    for config in configs:
      layout = (config.layer_sizes, config.num_seeds, config.data_parallel)
      if layout != (first.layer_sizes, first.num_seeds, first.data_parallel):
        raise ValueError(
            "Configurations timed together must share layer_sizes,"
            " num_seeds and data_parallel."
        )
      if not config.is_full_batch and config.batch_size > num_examples:
        raise ValueError(
            f"batch_size={config.batch_size} exceeds the {num_examples}"
            " training examples; use batch_size=0 for one full batch."
        )
    if num_examples > self.data.num_examples:
      raise ValueError(
          f"{num_examples} examples asked of the {self.data.num_examples}"
          f" of {self.data.source}."
      )

    # Arguments the configurations share: inputs, labels, keys; as in the
    # Trainer, the batch axis is split over every device when asked for.
    mesh = sharding.batch_mesh(num_examples, enabled=first.data_parallel)
    num_devices = 1 if mesh is None else mesh.size
    keys = training.seed_keys(first)
    images = sharding.shard_along_batch(self.data.images[:num_examples], mesh)
    labels = sharding.shard_along_batch(self.data.labels[:num_examples], mesh)
    # The layer's inputs: for a later layer a cache of the frozen layers'
    # outputs, or what to recompute them from, as each configuration says.
    inputs_by_choice = {}
    for config in configs:
      cached = training.caches_frozen_outputs(
          config,
          layer_index,
          num_examples=num_examples,
          num_classes=self.data.num_classes,
          num_devices=num_devices,
      )
      if cached not in inputs_by_choice:
        inputs_by_choice[cached] = _shard_inputs(
            layer_inputs(
                first,
                layer_index,
                images,
                labels,
                self.data.num_classes,
                self.data.hot_value,
                cached=cached,
            ),
            layer_index,
            mesh,
        )

    chunks = [
        self._prepare(
            config,
            layer_index,
            num_examples,
            inputs_by_choice,
            labels,
            keys,
            mesh,
        )
        for config in configs
    ]

    # What an epoch must hold per device: a share of the batch, and all of
    # the parameters.
    width = first.layer_sizes[layer_index + 1]
    activations = (
        2 * first.num_seeds * rows_per_step(first, num_examples) * width
    ) * FLOAT32_BYTES
    required = [
        {
            "inputs": (_tree_bytes(chunk.inputs) + labels.nbytes)
            // num_devices,
            "params": _tree_bytes(chunk.params),
            "opt_state": _tree_bytes(chunk.opt_state),
            "activations": activations // num_devices,
        }
        for chunk in chunks
    ]

    # Time the calls, one configuration after the other in each round; the
    # first round warms up and is discarded.
    for call in range(self.repeats + 1):
      for chunk in chunks:
        self._time_call(chunk, call, labels, keys)

    return [
        self._measurement(
            chunk, layer_index, num_examples, chunk_required, num_devices
        )
        for chunk, chunk_required in zip(chunks, required, strict=True)
    ]

  def _prepare(
      self,
      config: Config,
      layer_index: int,
      num_examples: int,
      inputs_by_choice: dict[bool, Any],
      labels: jnp.ndarray,
      keys: jax.Array,
      mesh: jax.sharding.Mesh | None,
  ) -> _PreparedChunk:
    """Initialises the layer's state and compiles its chunk ahead of time.

    `inputs_by_choice` maps "frozen outputs cached" to the layer's inputs.
    """
    cached = training.caches_frozen_outputs(
        config,
        layer_index,
        num_examples=num_examples,
        num_classes=self.data.num_classes,
        num_devices=1 if mesh is None else mesh.size,
    )
    inputs = inputs_by_choice[cached]
    state = training.init_state(config, keys, num_examples)
    params = sharding.replicate(state.params[layer_index], mesh)
    opt_state = sharding.replicate(state.opt_states[layer_index], mesh)
    del state

    chunk = training.make_layerwise_chunk(
        config,
        layer_index,
        num_examples=num_examples,
        num_classes=self.data.num_classes,
        hot_value=self.data.hot_value,
        chunk_length=self.chunk_epochs,
        cache_frozen_outputs=cached,
    )
    start = time.perf_counter()
    compiled = chunk.lower(
        params, opt_state, inputs, labels, keys, jnp.asarray(0, jnp.int32)
    ).compile()
    compile_seconds = time.perf_counter() - start
    return _PreparedChunk(
        config=config,
        compiled=compiled,
        compile_seconds=compile_seconds,
        memory=compiled.memory_analysis(),
        params=params,
        opt_state=opt_state,
        inputs=inputs,
    )

  def _time_call(
      self,
      chunk: _PreparedChunk,
      call: int,
      labels: jnp.ndarray,
      keys: jax.Array,
  ) -> None:
    """Runs call `call` of a chunk; records its seconds per epoch."""
    first_epoch = jnp.asarray(
        _chunk_start(call, self.chunk_epochs, chunk.config.epochs), jnp.int32
    )
    start = time.perf_counter()
    chunk.params, chunk.opt_state, metrics = chunk.compiled(
        chunk.params, chunk.opt_state, chunk.inputs, labels, keys, first_epoch
    )
    jax.block_until_ready((chunk.params, chunk.opt_state, metrics))
    chunk.call_seconds.append((time.perf_counter() - start) / self.chunk_epochs)

  def _measurement(
      self,
      chunk: _PreparedChunk,
      layer_index: int,
      num_examples: int,
      required: dict[str, int],
      num_devices: int,
  ) -> LayerMeasurement:
    config = chunk.config
    timed = tuple(chunk.call_seconds[1:])
    input_width, width = config.layer_sizes[layer_index : layer_index + 2]
    measurement = LayerMeasurement(
        layer_index=layer_index,
        num_examples=num_examples,
        rows_per_step=rows_per_step(config, num_examples),
        examples_per_epoch=examples_per_epoch(config, num_examples),
        input_width=input_width,
        width=width,
        num_seeds=config.num_seeds,
        seconds_per_epoch=statistics.median(timed),
        call_seconds_per_epoch=timed,
        compile_seconds=chunk.compile_seconds,
        flops_per_epoch=epoch_flops(config, layer_index, num_examples),
        argument_bytes=chunk.memory.argument_size_in_bytes,
        output_bytes=chunk.memory.output_size_in_bytes,
        alias_bytes=chunk.memory.alias_size_in_bytes,
        temp_bytes=chunk.memory.temp_size_in_bytes,
        required=dict(required),
        num_devices=num_devices,
    )
    logging.info(
        "Layer %d of %s, %d examples, %d seed(s), %s: compiled in %.1f s;"
        " %.4g s/epoch (median of %s), %.1f GFLOP/s.",
        layer_index,
        _architecture(config),
        num_examples,
        config.num_seeds,
        _switches_text(config),
        chunk.compile_seconds,
        measurement.seconds_per_epoch,
        ", ".join(f"{seconds:.4g}" for seconds in timed),
        measurement.gflops_per_second,
    )
    return measurement


def _switches_text(config: Config) -> str:
  switched_on = [name for name in AMSGA_SWITCHES if getattr(config, name)]
  if len(switched_on) == len(AMSGA_SWITCHES):
    return "AMSGA"
  if not switched_on:
    return "baseline"
  return "+".join(switched_on)


def _architecture(config: Config) -> str:
  return "-".join(str(width) for width in config.layer_sizes)


def _measure_matmul_rates(
    config: Config, num_examples: int, *, square_size: int, repeats: int
) -> list[dict[str, Any]]:
  """The square product's rate, then each layer's two product shapes."""
  products = [("square", None, square_size, square_size, square_size)]
  step_rows = rows_per_step(config, num_examples)
  for index in range(config.num_layers):
    input_width, width = config.layer_sizes[index : index + 2]
    products += [
        (f"layer {index} forward", index, step_rows, input_width, width),
        (
            f"layer {index} weight gradient",
            index,
            input_width,
            step_rows,
            width,
        ),
    ]

  rates = []
  for name, layer_index, rows, inner, columns in products:
    rate = matmul_rate(rows, inner, columns, repeats=repeats)
    logging.info(
        "Matmul %s [%d, %d] @ [%d, %d]: %.1f GFLOP/s.",
        name,
        rows,
        inner,
        inner,
        columns,
        rate,
    )
    rates.append(
        {
            "name": name,
            "layer": layer_index,
            "shape": [rows, inner, columns],
            "gflops_per_second": rate,
        }
    )
  return rates


def _layer_record(
    measurement: LayerMeasurement,
    *,
    peak_rate: float,
    layer_rates: list[float],
) -> dict[str, Any]:
  """A layer's row: its measurement against `peak_rate` and its shapes'.

  The matmul rates are one device's; a batch split over `D` devices is
  held against `D` times them.
  """
  achieved = measurement.gflops_per_second
  return {
      "layer": measurement.layer_index,
      "shape": [
          measurement.rows_per_step,
          measurement.input_width,
          measurement.width,
      ],
      "num_examples": measurement.num_examples,
      "examples_per_epoch": measurement.examples_per_epoch,
      "num_seeds": measurement.num_seeds,
      "seconds_per_epoch": measurement.seconds_per_epoch,
      "call_seconds_per_epoch": list(measurement.call_seconds_per_epoch),
      "compile_seconds": measurement.compile_seconds,
      "flops_per_epoch": measurement.flops_per_epoch,
      "gflops_per_second": achieved,
      "num_devices": measurement.num_devices,
      "fraction_of_matmul_peak": achieved
      / (peak_rate * measurement.num_devices),
      "fraction_of_layer_matmul": (
          achieved / (max(layer_rates) * measurement.num_devices)
      ),
      "peak_bytes": measurement.peak_bytes,
      "argument_bytes": measurement.argument_bytes,
      "output_bytes": measurement.output_bytes,
      "alias_bytes": measurement.alias_bytes,
      "temp_bytes": measurement.temp_bytes,
      "required_bytes": measurement.required_bytes,
      "required_bytes_by_part": dict(measurement.required),
      "peak_over_required": measurement.peak_bytes / measurement.required_bytes,
  }


def _overhead_record(
    layer_index: int, amsga: LayerMeasurement, baseline: LayerMeasurement
) -> dict[str, Any]:
  """AMSGA's extra time over the baseline's for one layer."""
  extra = amsga.seconds_per_epoch - baseline.seconds_per_epoch
  return {
      "layer": layer_index,
      "baseline_seconds_per_epoch": baseline.seconds_per_epoch,
      "amsga_seconds_per_epoch": amsga.seconds_per_epoch,
      "extra_percent_of_amsga_epoch": 100 * extra / amsga.seconds_per_epoch,
      "extra_percent_of_baseline_epoch": (
          100 * extra / baseline.seconds_per_epoch
      ),
  }


def _frozen_outputs_record(
    cached: LayerMeasurement,
    recomputed: LayerMeasurement,
    *,
    auto_caches: bool,
) -> dict[str, Any]:
  """A later layer's epoch with its frozen inputs cached or recomputed."""
  return {
      "layer": cached.layer_index,
      "cache_seconds_per_epoch": cached.seconds_per_epoch,
      "recompute_seconds_per_epoch": recomputed.seconds_per_epoch,
      "cache_peak_bytes": cached.peak_bytes,
      "recompute_peak_bytes": recomputed.peak_bytes,
      "faster": (
          "cache"
          if cached.seconds_per_epoch <= recomputed.seconds_per_epoch
          else "recompute"
      ),
      "auto_uses": "cache" if auto_caches else "recompute",
  }


def _network_record(
    measurements: list[LayerMeasurement], **setting: Any
) -> dict[str, Any]:
  """One row of a scaling sweep: a setting and its layers' epoch times."""
  seconds = [m.seconds_per_epoch for m in measurements]
  flops = sum(m.flops_per_epoch for m in measurements)
  return {
      **setting,
      "seconds_per_epoch": seconds,
      "total_seconds_per_epoch": sum(seconds),
      "flops_per_epoch": flops,
      "gflops_per_second": flops / sum(seconds) / 1e9,
  }


def _with_ratios(
    records: list[dict[str, Any]], reference: dict[str, Any]
) -> list[dict[str, Any]]:
  """Adds time and FLOP ratios to `reference` to each scaling record."""
  for record in records:
    record["time_ratio"] = (
        record["total_seconds_per_epoch"] / reference["total_seconds_per_epoch"]
    )
    record["flop_ratio"] = (
        record["flops_per_epoch"] / reference["flops_per_epoch"]
    )
  return records


def _hidden_widths(config: Config, width: int) -> tuple[int, ...]:
  return (config.layer_sizes[0],) + (width,) * config.num_layers


def _measure_scaling(
    timer: LayerTimer,
    config: Config,
    num_examples: int,
    *,
    batch_sizes: tuple[int, ...],
    widths: tuple[int, ...],
    seed_counts: tuple[int, ...],
) -> dict[str, list[dict[str, Any]]]:
  """The epoch of every layer as one setting of `config` changes.

  Returns:
    "batch_scaling" (full batches of each of `batch_sizes` examples),
    "width_scaling" (every layer `width` wide) and "seed_scaling" (one seed
    and each of `seed_counts`): lists of `_network_record`s with time and
    FLOP ratios to their first record.
  """
  batch_scaling = [
      _network_record(
          timer.measure_network(
              config.replace(batch_size=0, train_size=size), size
          ),
          num_examples=size,
      )
      for size in batch_sizes
  ]
  width_scaling = []
  for width in widths:
    scaled = config.replace(layer_sizes=_hidden_widths(config, width))
    width_scaling.append(
        _network_record(
            timer.measure_network(scaled, num_examples),
            width=width,
            layer_sizes=list(scaled.layer_sizes),
        )
    )
  seed_scaling = [
      _network_record(
          timer.measure_network(config.replace(num_seeds=seeds), num_examples),
          num_seeds=seeds,
      )
      for seeds in sorted({1, *seed_counts})
  ]

  for records in (batch_scaling, width_scaling, seed_scaling):
    if records:
      _with_ratios(records, records[0])
  for record in seed_scaling:
    record["time_ratio_per_seed"] = record["time_ratio"] / record["num_seeds"]
  return {
      "batch_scaling": batch_scaling,
      "width_scaling": width_scaling,
      "seed_scaling": seed_scaling,
  }


def _training_data(
    config: Config, data: str, *, data_dir: str | None, largest_batch: int
) -> TrainingData:
  """The data to train on: synthetic, or a dataset's training split.

  Synthetic data holds enough examples for the configuration and for
  `largest_batch`; a dataset gives `config.train_size` of its training
  split (0: all of it).
  """
  if data == SYNTHETIC:
    num_examples = max(config.train_size or SYNTHETIC_TRAIN_SIZE, largest_batch)
    return synthetic_data(num_examples, config.layer_sizes[0])
  return load_training_data(data, config, data_dir=data_dir)


def run_benchmark(
    config: Config,
    *,
    data: str = SYNTHETIC,
    data_dir: str | None = None,
    repeats: int = 5,
    chunk_epochs: int = 2,
    batch_sizes: tuple[int, ...] = (5_000, 10_000, 25_000, 50_000),
    widths: tuple[int, ...] = (250, 500, 1_000),
    seed_counts: tuple[int, ...] = (1, 3),
    square_size: int = 4096,
    skip_scaling: bool = False,
) -> dict[str, Any]:
  """Measures a configuration's speed; returns the results as a dict.

  Args:
    config: the layer-wise configuration to benchmark.
    data: "synthetic" or a dataset name for `load_dataset`.
    data_dir: where `load_dataset` looks first.
    repeats: timed calls per measurement (median) and per matmul (best).
    chunk_epochs: epochs per timed chunk.
    batch_sizes: full-batch example counts of the batch-size scaling; with
      a real dataset, counts beyond its size are skipped.
    widths: hidden widths of the width scaling.
    seed_counts: numbers of vmapped seeds of the seed scaling (one seed is
      always measured: the others are compared with it).
    square_size: the square matmul's size.
    skip_scaling: skip the three scaling sweeps.

  Returns:
    A JSON-serialisable dict; `format_report` renders it as Markdown.

  Raises:
    ValueError: a configuration the benchmark cannot time (the
      simultaneous schedule, a batch larger than the data, ...).
  """
  config.validate()
  if config.schedule != "layerwise":
    raise ValueError(
        f"schedule={config.schedule!r}: the benchmark times layer-wise"
        " epochs only."
    )
  load_before = os.getloadavg()

  # The data, and the number of examples the configuration trains on.
  training_data = _training_data(
      config,
      data,
      data_dir=data_dir,
      largest_batch=0 if skip_scaling else max(batch_sizes, default=0),
  )
  num_examples = config.train_size or training_data.num_examples
  config = config.replace(
      dataset=config.dataset if data == SYNTHETIC else training_data.source,
      train_size=num_examples,
  ).validate()
  too_large = [s for s in batch_sizes if s > training_data.num_examples]
  if too_large and not skip_scaling:
    logging.warning(
        "Batch sizes beyond the %d examples of %s are skipped: %s.",
        training_data.num_examples,
        data,
        too_large,
    )
  batch_sizes = tuple(s for s in batch_sizes if s not in too_large)
  timer = LayerTimer(training_data, repeats=repeats, chunk_epochs=chunk_epochs)

  with jax.default_matmul_precision(config.matmul_precision):
    # The machine's matmul rate, and the best of them as the denominator.
    matmul_rates = _measure_matmul_rates(
        config, num_examples, square_size=square_size, repeats=repeats
    )
    peak = max(matmul_rates, key=lambda rate: rate["gflops_per_second"])
    peak_rate = peak["gflops_per_second"]

    # Each layer's epoch under the configuration, timed together with the
    # same architecture's AMSGA and baseline configurations.
    amsga = config.replace(**dict.fromkeys(AMSGA_SWITCHES, True))
    baseline = config.replace(**dict.fromkeys(AMSGA_SWITCHES, False))
    measurements, amsga_overhead = [], []
    for layer_index in range(config.num_layers):
      measurement, amsga_layer, baseline_layer = timer.measure_together(
          [config, amsga, baseline], layer_index, num_examples
      )
      measurements.append(measurement)
      amsga_overhead.append(
          _overhead_record(layer_index, amsga_layer, baseline_layer)
      )
    # Later layers: the frozen layers' outputs read from a cache, or
    # recomputed at every step; and which of the two "auto" picks here.
    frozen_outputs = []
    for layer_index in range(1, config.num_layers):
      cached, recomputed = timer.measure_together(
          [
              config.replace(frozen_outputs="cache"),
              config.replace(frozen_outputs="recompute"),
          ],
          layer_index,
          num_examples,
      )
      frozen_outputs.append(
          _frozen_outputs_record(
              cached,
              recomputed,
              auto_caches=training.caches_frozen_outputs(
                  config.replace(frozen_outputs="auto"),
                  layer_index,
                  num_examples=num_examples,
                  num_classes=training_data.num_classes,
                  num_devices=cached.num_devices,
              ),
          )
      )
    layer_records = [
        _layer_record(
            measurement,
            peak_rate=peak_rate,
            layer_rates=[
                rate["gflops_per_second"]
                for rate in matmul_rates
                if rate["layer"] == measurement.layer_index
            ],
        )
        for measurement in measurements
    ]

    # Scaling with the full-batch examples, the hidden width and the seeds.
    scaling = {"batch_scaling": [], "width_scaling": [], "seed_scaling": []}
    if not skip_scaling:
      scaling = _measure_scaling(
          timer,
          config,
          num_examples,
          batch_sizes=batch_sizes,
          widths=widths,
          seed_counts=seed_counts,
      )

  total_seconds = sum(record["seconds_per_epoch"] for record in layer_records)
  square = matmul_rates[0]
  return {
      "matmul_gflops_per_second": peak_rate,
      "matmul_peak_source": f"{peak['name']} {_product_text(peak['shape'])}",
      "square_matmul_gflops_per_second": square["gflops_per_second"],
      "matmul_rates": matmul_rates,
      "matmul_precision": config.matmul_precision,
      "environment": {
          **environment(),
          "load_average_before": list(load_before),
          "load_average_after": list(os.getloadavg()),
      },
      "config": config.to_dict(),
      "data": training_data.source,
      "num_examples": num_examples,
      "timing": {
          "repeats": repeats,
          "chunk_epochs": chunk_epochs,
          "statistic": "median of timed calls, first call discarded",
          "interleaved": "the configuration, AMSGA and baseline, per layer",
      },
      "layers": layer_records,
      "total_seconds_per_epoch": total_seconds,
      "estimated_training_seconds": total_seconds * config.epochs,
      **scaling,
      "amsga_overhead": amsga_overhead,
      "frozen_outputs": frozen_outputs,
  }


def _product_text(shape: list[int]) -> str:
  rows, inner, columns = shape
  return f"[{rows}, {inner}] @ [{inner}, {columns}]"


def _mebibytes(num_bytes: float) -> str:
  return f"{num_bytes / MEBIBYTE:,.1f} MiB"


def _markdown_table(header: list[str], rows: list[list[Any]]) -> str:
  lines = [
      "| " + " | ".join(header) + " |",
      "|" + "|".join("---" for _ in header) + "|",
  ]
  lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
  return "\n".join(lines)


def _layer_columns(records: list[dict[str, Any]]) -> list[str]:
  num_layers = len(records[0]["seconds_per_epoch"])
  return [f"layer {index} s/epoch" for index in range(num_layers)]


def _scaling_rows(
    records: list[dict[str, Any]], setting: str
) -> list[list[Any]]:
  return [
      [
          record[setting],
          *(f"{seconds:.4g}" for seconds in record["seconds_per_epoch"]),
          f"{record['total_seconds_per_epoch']:.4g}",
          f"{record['time_ratio']:.2f}",
          f"{record['flop_ratio']:.2f}",
          f"{record['gflops_per_second']:.1f}",
      ]
      for record in records
  ]


def format_report(results: dict[str, Any]) -> str:
  """The results as Markdown sections and tables, for RESULTS.md."""
  config = results["config"]
  environment_info = results["environment"]
  seeds = config["num_seeds"]
  batch = "full batch"
  if config["batch_size"]:
    batch = f"batches of {config['batch_size']}"
  timing = results["timing"]
  num_devices = results["layers"][0]["num_devices"]
  if num_devices > 1:
    batch += f" split over {num_devices} devices"
  sections = [
      "## Benchmark: "
      + "-".join(str(width) for width in config["layer_sizes"])
      + f", {results['num_examples']} {results['data']} examples, {batch},"
      + f" {seeds} seed(s)",
      f"JAX {environment_info['jax_version']} on"
      f" {environment_info['backend']} ({environment_info['device_kind']},"
      f" {environment_info['cpu_count']} CPUs, load average"
      f" {environment_info['load_average_before'][0]:.2f} before,"
      f" {environment_info['load_average_after'][0]:.2f} after); matmul"
      f" precision {results['matmul_precision']}. Epoch times: median of"
      f" {timing['repeats']} chunks of {timing['chunk_epochs']} epochs after"
      " a discarded first call; matmul rates: best of"
      f" {timing['repeats']} after a warm-up.",
  ]

  sections.append("### Matmul rate")
  sections.append(
      _markdown_table(
          ["product", "shape", "GFLOP/s"],
          [
              [
                  rate["name"],
                  _product_text(rate["shape"]),
                  f"{rate['gflops_per_second']:.1f}",
              ]
              for rate in results["matmul_rates"]
          ],
      )
  )
  sections.append(
      "Denominator of the fractions below: the best of these,"
      f" {results['matmul_gflops_per_second']:.1f} GFLOP/s"
      f" ({results['matmul_peak_source']})."
  )

  sections.append("### Epoch per layer")
  sections.append(
      _markdown_table(
          [
              "layer",
              "shape [B, D_in] @ [D_in, N]",
              "s/epoch",
              "GFLOP/s",
              "fraction of matmul rate",
              "peak memory",
              "required memory",
              "peak/required",
          ],
          [
              [
                  record["layer"],
                  _product_text(record["shape"]),
                  f"{record['seconds_per_epoch']:.4g}",
                  f"{record['gflops_per_second']:.1f}",
                  f"{record['fraction_of_matmul_peak']:.2f}",
                  _mebibytes(record["peak_bytes"]),
                  _mebibytes(record["required_bytes"]),
                  f"{record['peak_over_required']:.2f}",
              ]
              for record in results["layers"]
          ],
      )
  )
  sections.append(
      "GFLOP/s counts the plain `8 S B D_in N` FLOPs of an epoch (forward"
      " and weight gradient of positives and negatives); layer 0's factored"
      " form does about half of them. Peak memory: argument + output + temp"
      " bytes of the compiled chunk; required: inputs, params, optimiser"
      " state and one step's activations of positives and negatives. All"
      f" layers: {results['total_seconds_per_epoch']:.4g} s per epoch,"
      f" {results['estimated_training_seconds'] / 60:.1f} minutes for"
      f" {config['epochs']} epochs per layer (compilation excluded)."
  )

  sections.append("### AMSGA against the baseline")
  sections.append(
      _markdown_table(
          [
              "layer",
              "baseline s/epoch",
              "AMSGA s/epoch",
              "extra, % of AMSGA epoch",
              "extra, % of baseline epoch",
          ],
          [
              [
                  record["layer"],
                  f"{record['baseline_seconds_per_epoch']:.4g}",
                  f"{record['amsga_seconds_per_epoch']:.4g}",
                  f"{record['extra_percent_of_amsga_epoch']:.1f}",
                  f"{record['extra_percent_of_baseline_epoch']:.1f}",
              ]
              for record in results["amsga_overhead"]
          ],
      )
  )

  if results["frozen_outputs"]:
    sections.append("### Frozen layers' outputs: cached or recomputed")
    sections.append(
        _markdown_table(
            [
                "layer",
                "cache s/epoch",
                "recompute s/epoch",
                "faster",
                "cache peak memory",
                "recompute peak memory",
                "--frozen_outputs=auto uses",
            ],
            [
                [
                    record["layer"],
                    f"{record['cache_seconds_per_epoch']:.4g}",
                    f"{record['recompute_seconds_per_epoch']:.4g}",
                    record["faster"],
                    _mebibytes(record["cache_peak_bytes"]),
                    _mebibytes(record["recompute_peak_bytes"]),
                    record["auto_uses"],
                ]
                for record in results["frozen_outputs"]
            ],
        )
    )

  sweeps = [
      ("batch_scaling", "num_examples", "examples (full batch)", "first row"),
      ("width_scaling", "width", "hidden width", "first row"),
      ("seed_scaling", "num_seeds", "seeds", "one seed"),
  ]
  for key, setting, label, reference in sweeps:
    records = results[key]
    if not records:
      continue
    sections.append(f"### Scaling with {label}")
    sections.append(
        _markdown_table(
            [
                label,
                *_layer_columns(records),
                "all layers s/epoch",
                f"time / {reference}",
                f"FLOPs / {reference}",
                "GFLOP/s",
            ],
            _scaling_rows(records, setting),
        )
    )
  return "\n\n".join(sections)


def write_results(results: dict[str, Any], path: str) -> None:
  """Writes the results as indented JSON, making the folder if needed."""
  folder = os.path.dirname(path)
  if folder:
    os.makedirs(folder, exist_ok=True)
  with open(path, "w") as f:
    json.dump(results, f, indent=2)


def _int_list(flag_values: flags.FlagValues, name: str) -> tuple[int, ...]:
  values = flag_values[name].value
  try:
    return tuple(int(value) for value in values)
  except ValueError:
    raise ValueError(
        f"--{name}={','.join(values)}: each entry must be an integer."
    ) from None


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> Config:
  """The preset's `Config` with the command line's overrides applied.

  Raises:
    ValueError: a malformed `--layers` or a value `Config.validate` refuses.
  """
  config = presets.get_preset(flag_values.preset)
  overrides = {}
  if flag_values.layers is not None:
    overrides["layer_sizes"] = _int_list(flag_values, "layers")
  for field_name, flag_name in (
      ("batch_size", "batch_size"),
      ("train_size", "train_size"),
      ("num_seeds", "seeds"),
      ("matmul_precision", "precision"),
  ):
    if flag_values[flag_name].value is not None:
      overrides[field_name] = flag_values[flag_name].value
  return config.replace(**overrides).validate()


def benchmark_from_flags(
    flag_values: flags.FlagValues = flags.FLAGS,
) -> dict[str, Any]:
  """Runs the benchmark the flags describe, prints it, writes `--output`.

  Returns:
    The results `run_benchmark` returned.
  """
  results = run_benchmark(
      config_from_flags(flag_values),
      data=flag_values.data,
      data_dir=flag_values.data_dir,
      repeats=flag_values.repeats,
      chunk_epochs=flag_values.chunk_epochs,
      batch_sizes=_int_list(flag_values, "batch_sizes"),
      widths=_int_list(flag_values, "widths"),
      seed_counts=_int_list(flag_values, "seed_counts"),
      square_size=flag_values.square_size,
      skip_scaling=flag_values.skip_scaling,
  )
  print(format_report(results))
  if flag_values.output:
    write_results(results, flag_values.output)
    logging.info("Results written to %s.", flag_values.output)
  return results


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  try:
    benchmark_from_flags(flags.FLAGS)
  except (ValueError, data_lib.DataError) as error:
    logging.error("%s", error)
    raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
  define_flags()
  app.run(main)
