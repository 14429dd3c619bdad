"""Command-line flags for every `Config` field, and presets under them.

Every field of `amsga_jax.Config` is a flag of the same name, except four
that get the short names researchers type: `--layers` (layer_sizes),
`--lr` (learning_rate), `--theta` (threshold) and `--seeds` (num_seeds).
A flag's default is None, meaning "the preset's value"; a flag given on the
command line overrides the preset. Booleans take absl's `--no<name>` form.
"""

from __future__ import annotations

import dataclasses

from absl import flags

from amsga_jax import Config
from experiments import presets

SHORT_NAMES = {
    "layer_sizes": "layers",
    "learning_rate": "lr",
    "threshold": "theta",
    "num_seeds": "seeds",
}

HELP = {
    "dataset": "mnist, fashion_mnist or digits (scikit-learn's, for tests).",
    "layer_sizes": "Widths, input first, e.g. 784,600,600,500.",
    "epochs": "Epochs per layer (per run for the simultaneous schedule).",
    "batch_size": "Examples per update; 0 trains on one full batch.",
    "learning_rate": "Adam's (peak) learning rate.",
    "threshold": "Base goodness threshold theta_0.",
    "num_seeds": "Seeds trained together as one vmapped program.",
    "seed": "First seed; the others are seed+1, seed+2, ...",
    "multiscale": "Multi-scale goodness (eqs. 2-6).",
    "curriculum": "Curriculum negative selection (eqs. 7-10).",
    "adaptive_threshold": "Depth- and progress-dependent threshold (eq. 11).",
    "warmup_cosine": "Warm-up plus cosine learning rate (eqs. 12-13).",
    "schedule": "layerwise (the paper's) or simultaneous.",
    "eval_every": "Epochs between validation evaluations and log lines.",
    "checkpoint_every": (
        "Epochs between checkpoints (a multiple of eval_every); 0: only at"
        " layer boundaries and on exit."
    ),
    "global_goodness": "example (per example) or batch (the literal reading).",
    "matmul_precision": "float32, tensorfloat32 or bfloat16.",
    "train_size": "Use only this many training images (0: all).",
    "frozen_outputs": (
        "auto, cache or recompute: how a later layer reads the frozen"
        " layers' outputs (a table of every image under every label, or the"
        " frozen layers run on each step's negatives)."
    ),
    "readout": (
        "goodness (score every label) or softmax (a linear classifier per"
        " layer on its neutral-label activity); simultaneous schedule only."
    ),
    "shift_pixels": (
        "Shift training images by up to this many pixels (not"
        " permutation-invariant); simultaneous schedule only."
    ),
    "mirror": (
        "Mirror training images left-right at random (not"
        " permutation-invariant); simultaneous schedule only."
    ),
    "frozen_cache_limit_mib": (
        "Largest frozen-output cache, MiB per device, that"
        " --frozen_outputs=auto keeps."
    ),
}


def _field_flag_name(field_name: str) -> str:
  return SHORT_NAMES.get(field_name, field_name)


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines the runner's flags and one flag per `Config` field."""
  flags.DEFINE_string(
      "preset",
      "quick",
      f"Starting configuration, one of {sorted(presets.PRESETS)}.",
      flag_values=flag_values,
  )
  flags.DEFINE_string(
      "data_dir",
      None,
      "Folder with the IDX files (or with mnist/ and fashion-mnist/).",
      flag_values=flag_values,
  )
  flags.DEFINE_string(
      "workdir",
      None,
      "Where checkpoints, metrics.jsonl, results.json and curves.png go;"
      " default runs/<preset>. Rerunning with the same workdir resumes.",
      flag_values=flag_values,
  )
  flags.DEFINE_boolean(
      "download",
      False,
      "Download missing datasets from their public mirrors into the cache.",
      flag_values=flag_values,
  )
  flags.DEFINE_boolean(
      "progress", True, "Show a progress bar.", flag_values=flag_values
  )
  flags.DEFINE_boolean(
      "distributed",
      False,
      "Call jax.distributed.initialize() first, for a multi-host run (TPU pod"
      " slice, GPU cluster); the batch is then split over every host's"
      " devices.",
      flag_values=flag_values,
  )

  defaults = Config()
  for field in dataclasses.fields(Config):
    name = _field_flag_name(field.name)
    default = getattr(defaults, field.name)
    help_text = HELP.get(
        field.name, f"Config.{field.name}; see docs/method.md."
    )
    help_text += " Default: the preset's."
    if isinstance(default, bool):
      flags.DEFINE_boolean(name, None, help_text, flag_values=flag_values)
    elif isinstance(default, int):
      flags.DEFINE_integer(name, None, help_text, flag_values=flag_values)
    elif isinstance(default, float):
      flags.DEFINE_float(name, None, help_text, flag_values=flag_values)
    elif isinstance(default, tuple):
      flags.DEFINE_list(name, None, help_text, flag_values=flag_values)
    else:
      flags.DEFINE_string(name, None, help_text, flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> Config:
  """The preset's `Config` with every flag given on the command line applied.

  Raises:
    ValueError: an unknown preset, a list flag with a malformed entry, or
      any value `Config.validate` refuses.
  """
  config = presets.get_preset(flag_values.preset)
  defaults = Config()
  overrides = {}
  for field in dataclasses.fields(Config):
    flag = flag_values[_field_flag_name(field.name)]
    if flag.value is None:
      continue
    default = getattr(defaults, field.name)
    if isinstance(default, tuple):
      element_type = type(default[0])
      try:
        overrides[field.name] = tuple(element_type(v) for v in flag.value)
      except ValueError:
        raise ValueError(
            f"--{flag.name}={','.join(flag.value)}: each entry must be"
            f" {element_type.__name__}."
        ) from None
    else:
      overrides[field.name] = flag.value
  return config.replace(**overrides).validate()
