"""Forward-Forward learning and AMSGA in JAX.

`amsga_jax` implements the Forward-Forward algorithm (Hinton, 2022) and
Adaptive Multi-Scale Goodness Aggregation (AMSGA), which changes four of its
choices: goodness measured at three scales and mixed by depth
(`goodness`), curriculum-selected hard negatives (`curriculum`), thresholds
that move with depth and training (`thresholds`), and a warm-up plus cosine
learning rate (`schedules`). Each is a switch of `Config`; all four off is
the baseline.

Parameters are plain pytrees (`{"w": [D_in, N], "b": [N]}` per layer)
rather than Flax modules: a Forward-Forward layer is trained on its own with
its own optimiser, the first layer is computed in a factored form that a
module's `__call__` would hide, and a pytree with a leading seed axis
`vmap`s with no ceremony. Flax provides the `TrainState` pytree dataclass.

Modules, one per idea:

- `config`: every setting of a run, validated in one place.
- `goodness`, `curriculum`, `thresholds`, `schedules`: the four components,
  as pure functions.
- `labels`: label embedding and wrong-label sampling (negative data).
- `layers`: the normalised ReLU layer and the factored first layer.
- `objective`: a layer's loss and diagnostics.
- `training`: compiled chunks of epochs, layer-wise or simultaneous, seeds
  vmapped; the `Trainer` loop.
- `evaluation`: prediction over candidate labels, accuracy by depth.
- `readout`: a linear softmax classifier per layer, trained locally.
- `augmentation`: shifts and mirror images of the training images.
- `data`: MNIST, Fashion-MNIST and scikit-learn digits as arrays.
"""

from amsga_jax.config import Config
from amsga_jax.training import ChunkReport
from amsga_jax.training import Position
from amsga_jax.training import Trainer
from amsga_jax.training import TrainState

__version__ = "0.1.0"

__all__ = [
    "ChunkReport",
    "Config",
    "Position",
    "TrainState",
    "Trainer",
    "__version__",
]
