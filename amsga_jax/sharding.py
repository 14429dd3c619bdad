"""Data parallelism: the batch axis split across every device.

A Forward-Forward epoch is a few large products over the batch, so the one
axis worth sharding is the batch's. `batch_mesh` lays every device (of every
host, after `jax.distributed.initialize`) on one mesh axis named "batch";
arrays with a batch axis are split along it and everything else is
replicated. The compiler inserts the collectives (the weight gradient's sum
over the batch, the curriculum's top-k over all negatives), so the training
code is the same on one device and on a pod slice.
"""

from __future__ import annotations

from typing import Any

from absl import logging
import jax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec
import numpy as np

BATCH_AXIS = "batch"


def batch_mesh(num_examples: int, *, enabled: bool = True) -> Mesh | None:
  """A 1-D mesh over all devices, or None when one device (or off) will do.

  Args:
    num_examples: the batch axis's length; it must split evenly.
    enabled: False keeps everything on one device.

  Returns:
    The mesh, or None for single-device execution.
  """
  devices = jax.devices()
  if not enabled or len(devices) == 1:
    return None
  if num_examples % len(devices):
    logging.warning(
        "%d training examples do not split evenly over %d devices; training"
        " on one device. Choose --train_size as a multiple of %d to use all.",
        num_examples,
        len(devices),
        len(devices),
    )
    return None
  return Mesh(np.array(devices), (BATCH_AXIS,))


def batch_sharding(mesh: Mesh, ndim: int, axis: int) -> NamedSharding:
  """Splits axis `axis` of an `ndim`-dimensional array over the mesh."""
  spec = [None] * ndim
  spec[axis] = BATCH_AXIS
  return NamedSharding(mesh, PartitionSpec(*spec))


def shard_along_batch(array: Any, mesh: Mesh | None, axis: int = 0) -> Any:
  """Places a host array with its `axis` split across the mesh's devices.

  Works on several hosts too: every host holds the whole array and hands
  each of its devices the slice that device owns.
  """
  if mesh is None:
    return jax.numpy.asarray(array)
  host_array = np.asarray(array)
  sharding = batch_sharding(mesh, host_array.ndim, axis)
  return jax.make_array_from_callback(
      host_array.shape, sharding, lambda index: host_array[index]
  )


def replicate(tree: Any, mesh: Mesh | None) -> Any:
  """Copies every leaf of `tree` to every device of the mesh."""
  if mesh is None:
    return tree
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
