"""`Config` checks, the curriculum's minimum count, and the Trainer's checks."""

import re

import helpers
import pytest

from amsga_jax import Config
from amsga_jax import Trainer
from amsga_jax import config as config_lib


def test_defaults_are_the_method_defaults_and_valid():
  config = Config()

  assert config.validate() is config
  assert config.num_layers == 3
  assert not config.is_full_batch
  assert (config.threshold, config.num_groups) == (2.0, 8)
  assert config.stage_boundaries == (0.3, 0.7)
  assert config.band_widths == (0.2, 0.4, 0.6, 0.8)
  assert (config.very_hard_rate_middle, config.very_hard_rate_late) == (
      0.1,
      0.3,
  )
  assert config.min_selected_fraction == 0.25
  assert (config.warmup_fraction, config.final_lr_fraction) == (0.1, 0.01)
  assert (
      config.threshold_depth_increase,
      config.threshold_progress_increase,
  ) == (0.2, 0.1)


@pytest.mark.parametrize(
    "changes, named",
    [
        # Non-positive numbers.
        pytest.param(dict(threshold=0.0), "threshold=0.0", id="threshold_0"),
        pytest.param(
            dict(threshold=-2.0), "threshold=-2.0", id="threshold_negative"
        ),
        pytest.param(
            dict(learning_rate=0.0), "learning_rate=0.0", id="learning_rate_0"
        ),
        pytest.param(
            dict(learning_rate=-0.03),
            "learning_rate=-0.03",
            id="learning_rate_negative",
        ),
        pytest.param(dict(clip_norm=0.0), "clip_norm=0.0", id="clip_norm_0"),
        pytest.param(dict(num_groups=0), "num_groups=0", id="num_groups_0"),
        pytest.param(
            dict(num_groups=-3), "num_groups=-3", id="num_groups_negative"
        ),
        pytest.param(dict(epochs=0), "epochs=0", id="epochs_0"),
        pytest.param(dict(num_seeds=0), "num_seeds=0", id="num_seeds_0"),
        pytest.param(dict(eval_every=0), "eval_every=0", id="eval_every_0"),
        pytest.param(dict(batch_size=-1), "batch_size=-1", id="batch_negative"),
        # Fractions outside [0, 1].
        pytest.param(
            dict(very_hard_rate_middle=1.5),
            "very_hard_rate_middle=1.5",
            id="rate_middle_above_1",
        ),
        pytest.param(
            dict(very_hard_rate_late=-0.1),
            "very_hard_rate_late=-0.1",
            id="rate_late_negative",
        ),
        pytest.param(
            dict(min_selected_fraction=1.25),
            "min_selected_fraction=1.25",
            id="min_selected_above_1",
        ),
        pytest.param(
            dict(warmup_fraction=-0.1),
            "warmup_fraction=-0.1",
            id="warmup_negative",
        ),
        pytest.param(
            dict(final_lr_fraction=2.0),
            "final_lr_fraction=2.0",
            id="final_lr_above_1",
        ),
        pytest.param(
            dict(stage_boundaries=(0.3, 1.2)),
            "stage_boundaries=(0.3, 1.2)",
            id="stage_above_1",
        ),
        pytest.param(
            dict(stage_boundaries=(-0.1, 0.7)),
            "stage_boundaries=(-0.1, 0.7)",
            id="stage_negative",
        ),
        pytest.param(
            dict(stage_boundaries=(0.7, 0.3)),
            "stage_boundaries=(0.7, 0.3)",
            id="stages_out_of_order",
        ),
        # Band widths must stay below one.
        pytest.param(
            dict(band_widths=(0.2, 0.4, 0.6, 1.0)),
            "band_widths=(0.2, 0.4, 0.6, 1.0)",
            id="band_width_1",
        ),
        pytest.param(
            dict(band_widths=(1.5, 0.4, 0.6, 0.8)),
            "band_widths=(1.5, 0.4, 0.6, 0.8)",
            id="band_width_above_1",
        ),
        pytest.param(
            dict(band_widths=(0.2, 0.4, 0.6)),
            "band_widths=(0.2, 0.4, 0.6)",
            id="three_band_widths",
        ),
        # Scale weights: three, non-negative, summing to one, same beta.
        pytest.param(
            dict(weights_first_layer=(0.5, 0.3, 0.3)),
            "weights_first_layer=(0.5, 0.3, 0.3)",
            id="first_weights_sum_1.1",
        ),
        pytest.param(
            dict(weights_last_layer=(0.2, 0.3, 0.4)),
            "weights_last_layer=(0.2, 0.3, 0.4)",
            id="last_weights_sum_0.9",
        ),
        pytest.param(
            dict(weights_first_layer=(1.2, 0.3, -0.5)),
            "weights_first_layer=(1.2, 0.3, -0.5)",
            id="negative_weight",
        ),
        pytest.param(
            dict(weights_first_layer=(0.6, 0.2, 0.2)),
            "weights_first_layer[1]=0.2",
            id="beta_differs_by_depth",
        ),
        # Choices.
        pytest.param(
            dict(schedule="parallel"), "schedule='parallel'", id="schedule"
        ),
        pytest.param(
            dict(global_goodness="dataset"),
            "global_goodness='dataset'",
            id="global_reading",
        ),
        pytest.param(
            dict(matmul_precision="float16"),
            "matmul_precision='float16'",
            id="precision",
        ),
        # Architecture.
        pytest.param(
            dict(layer_sizes=(784,)), "layer_sizes=(784,)", id="no_hidden"
        ),
        pytest.param(
            dict(layer_sizes=(784, 0, 500)),
            "layer_sizes=(784, 0, 500)",
            id="zero_width",
        ),
        pytest.param(
            dict(threshold_depth_increase=-1.0),
            "threshold_depth_increase=-1.0",
            id="depth_increase_-1",
        ),
        # Speed settings.
        pytest.param(
            dict(frozen_outputs="sometimes"),
            "frozen_outputs='sometimes'",
            id="frozen_outputs_unknown",
        ),
        pytest.param(
            dict(frozen_cache_limit_mib=0),
            "frozen_cache_limit_mib=0",
            id="frozen_cache_limit_0",
        ),
    ],
)
def test_validate_names_the_bad_value(changes, named):
  config = Config(**changes)

  with pytest.raises(ValueError, match=re.escape(named)):
    config.validate()


@pytest.mark.parametrize(
    "fraction, batch_size, expected",
    [
        pytest.param(0.3, 10, 3, id="0.3x10"),
        # 0.07 * 100 = 7.000000000000001 in floating point: a plain ceil
        # would give 8; likewise 0.55 * 100 = 55.00000000000001.
        pytest.param(0.07, 100, 7, id="0.07x100_float_error"),
        pytest.param(0.55, 100, 55, id="0.55x100_float_error"),
        pytest.param(0.25, 50_000, 12_500, id="0.25x50000"),
        pytest.param(0.25, 10, 3, id="0.25x10_rounds_up"),
        pytest.param(0.1, 30, 3, id="0.1x30"),
        pytest.param(0.7, 10, 7, id="0.7x10"),
        pytest.param(0.0, 100, 0, id="none"),
        pytest.param(1.0, 7, 7, id="all"),
        pytest.param(0.25, 1000, 250, id="0.25x1000"),
        pytest.param(0.01, 50, 1, id="0.01x50_rounds_up"),
    ],
)
def test_min_selected_count(fraction, batch_size, expected):
  assert config_lib.min_selected_count(fraction, batch_size) == expected


def test_dict_round_trip():
  config = Config(layer_sizes=(64, 32), band_widths=(0.1, 0.2, 0.3, 0.4))

  values = config.to_dict()

  assert values["layer_sizes"] == [64, 32]
  assert Config.from_dict(values) == config


def test_from_dict_rejects_unknown_fields():
  with pytest.raises(ValueError, match="learning_rte"):
    Config.from_dict({"learning_rte": 0.1})


# Values that only the data can check: the Trainer refuses them before
# compiling anything.


@pytest.mark.parametrize(
    "changes, named",
    [
        pytest.param(
            dict(layer_sizes=(30, 16)),
            "layer_sizes[0]=30",
            id="first_width_not_input_width",
        ),
        pytest.param(
            dict(batch_size=500), "batch_size=500", id="batch_above_data"
        ),
        pytest.param(
            dict(checkpoint_every=3, eval_every=2),
            "checkpoint_every=3",
            id="checkpoint_not_multiple_of_eval",
        ),
        pytest.param(
            dict(threshold=-1.0), "threshold=-1.0", id="invalid_config"
        ),
    ],
)
def test_trainer_refuses_settings_that_do_not_fit_the_data(changes, named):
  config = Config(**{"layer_sizes": (20, 16), "batch_size": 50, **changes})
  dataset = helpers.tiny_dataset(num_train=200, input_dim=20)

  with pytest.raises(ValueError, match=re.escape(named)):
    Trainer(config, dataset)


def test_trainer_refuses_inputs_with_no_room_for_pixels():
  # 10 classes fill all 10 inputs with the label embedding.
  dataset = helpers.tiny_dataset(input_dim=12)
  narrow = helpers.array_dataset(
      **{
          **vars(dataset),
          "train_images": dataset.train_images[:, :10],
      }
  )

  with pytest.raises(ValueError, match="10 classes"):
    Trainer(Config(layer_sizes=(10, 8), batch_size=50), narrow)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(dict(batch_size=0), id="full_batch"),
        pytest.param(dict(batch_size=200), id="batch_equals_data"),
        pytest.param(dict(checkpoint_every=4, eval_every=2), id="checkpoint"),
    ],
)
def test_trainer_accepts_settings_at_the_limits(changes):
  config = Config(**{"layer_sizes": (20, 16), "batch_size": 50, **changes})

  trainer = Trainer(config, helpers.tiny_dataset(num_train=200, input_dim=20))

  assert trainer.num_examples == 200
