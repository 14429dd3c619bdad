"""Checkpoints of a run with orbax: the training state and where it stands.

A checkpoint holds the `TrainState` (every layer's parameters and optimiser
state, all seeds) and a small JSON record: the `Position` (phase, epoch) and
the time spent so far per phase. Its step number counts epochs over all
phases, so later checkpoints always have larger steps.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from absl import logging
import jax
import orbax.checkpoint as ocp

from amsga_jax import Position
from amsga_jax import TrainState


@contextlib.contextmanager
def _quiet_orbax():
  """Orbax logs every file it writes at INFO; keep the run's log readable."""
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.WARNING)
  try:
    yield
  finally:
    logging.set_verbosity(verbosity)


class Checkpoints:
  """Saves and restores a run's checkpoints under `WORKDIR/checkpoints`."""

  def __init__(self, workdir: str | os.PathLike, epochs_per_phase: int):
    self._epochs_per_phase = epochs_per_phase
    with _quiet_orbax():
      self._manager = ocp.CheckpointManager(
          os.path.abspath(os.path.join(workdir, "checkpoints")),
          options=ocp.CheckpointManagerOptions(
              max_to_keep=2, enable_async_checkpointing=False
          ),
      )

  def _step(self, position: Position) -> int:
    return position.phase * self._epochs_per_phase + position.epoch

  def save(
      self, state: TrainState, position: Position, record: dict[str, Any]
  ) -> None:
    """Saves `state` at `position`; `record` is extra JSON-able data."""
    step = self._step(position)
    if step in self._manager.all_steps():
      return
    meta = dict(record, phase=position.phase, epoch=position.epoch)
    with _quiet_orbax():
      self._manager.save(
          step,
          args=ocp.args.Composite(
              state=ocp.args.StandardSave(state),
              meta=ocp.args.JsonSave(meta),
          ),
      )
      self._manager.wait_until_finished()

  def restore_latest(
      self, template: TrainState
  ) -> tuple[TrainState, Position, dict[str, Any]] | None:
    """The latest checkpoint, shaped like `template`; None if there is none."""
    step = self._manager.latest_step()
    if step is None:
      return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    with _quiet_orbax():
      restored = self._manager.restore(
          step,
          args=ocp.args.Composite(
              state=ocp.args.StandardRestore(abstract),
              meta=ocp.args.JsonRestore(),
          ),
      )
    meta = dict(restored.meta)
    position = Position(phase=meta.pop("phase"), epoch=meta.pop("epoch"))
    return restored.state, position, meta

  def close(self) -> None:
    with _quiet_orbax():
      self._manager.close()
