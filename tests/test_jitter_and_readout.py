"""Input jitter (`augmentation`) and the local softmax readout (`readout`)."""

import chex
import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amsga_jax import Config
from amsga_jax import Position
from amsga_jax import Trainer
from amsga_jax import augmentation
from amsga_jax import evaluation
from amsga_jax import layers
from amsga_jax import readout
from amsga_jax import training

SIMULTANEOUS = dict(
    schedule="simultaneous",
    multiscale=False,
    curriculum=False,
    adaptive_threshold=False,
    loss="symmetric",
    negative_labels="hardest",
)


# Shifts and mirror images.


def _shifted_by_hand(picture, rows, cols):
  """`picture` moved down `rows` and right `cols`, edges copied."""
  side = picture.shape[0]
  source_rows = np.clip(np.arange(side) - rows, 0, side - 1)
  source_cols = np.clip(np.arange(side) - cols, 0, side - 1)
  return picture[np.ix_(source_rows, source_cols)]


def test_each_shift_is_a_whole_pixel_move_and_every_move_occurs():
  picture = np.arange(25, dtype=np.float32).reshape(5, 5)
  images = jnp.tile(picture.reshape(1, 25), (400, 1))

  shifted = np.asarray(
      augmentation.shift_images(jax.random.PRNGKey(0), images, 1)
  )

  moves = {
      (rows, cols): _shifted_by_hand(picture, rows, cols).reshape(25)
      for rows in (-1, 0, 1)
      for cols in (-1, 0, 1)
  }
  seen = set()
  for image in shifted:
    matches = [m for m, moved in moves.items() if np.array_equal(image, moved)]
    assert len(matches) == 1
    seen.add(matches[0])
  assert seen == set(moves)


def test_no_shift_and_no_mirror_leave_images_alone():
  images = jax.random.normal(jax.random.PRNGKey(1), (8, 16))

  jittered = augmentation.jitter_images(
      jax.random.PRNGKey(2), images, max_shift=0, mirror=False
  )

  chex.assert_trees_all_equal(jittered, images)


def test_mirror_flips_about_half_left_to_right():
  picture = np.arange(16, dtype=np.float32).reshape(4, 4)
  images = jnp.tile(picture.reshape(1, 16), (2000, 1))

  mirrored = np.asarray(
      augmentation.mirror_images(jax.random.PRNGKey(3), images)
  )

  flipped = np.all(mirrored == picture[:, ::-1].reshape(16), axis=1)
  unchanged = np.all(mirrored == picture.reshape(16), axis=1)
  assert np.all(flipped ^ unchanged)
  assert 0.45 < flipped.mean() < 0.55


def test_jitter_needs_square_images():
  with pytest.raises(ValueError, match="square"):
    augmentation.shift_images(jax.random.PRNGKey(0), jnp.zeros((2, 20)), 1)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(shift_pixels=-1), "shift_pixels"),
        (dict(shift_pixels=1, schedule="layerwise"), "simultaneous"),
        (dict(mirror=True, schedule="layerwise"), "simultaneous"),
        (dict(readout="softmax", schedule="layerwise"), "simultaneous"),
        (dict(readout="linear", schedule="simultaneous"), "readout"),
    ],
)
def test_jitter_and_readout_settings_are_validated(changes, message):
  with pytest.raises(ValueError, match=message):
    Config(**changes).validate()


def test_trainer_refuses_a_shift_as_wide_as_the_image():
  config = Config(
      dataset="digits",
      layer_sizes=(64, 20),
      shift_pixels=8,
      **SIMULTANEOUS,
  )

  with pytest.raises(ValueError, match="fewer than 8"):
    Trainer(config, helpers.digits_dataset())


def test_jitter_changes_what_a_step_sees():
  config = Config(
      dataset="digits",
      layer_sizes=(64, 30, 30),
      epochs=1,
      batch_size=50,
      eval_every=1,
      **SIMULTANEOUS,
  )
  dataset = helpers.digits_dataset()

  def trained(config):
    trainer = Trainer(config, dataset)
    state, _ = trainer.run(trainer.initial_state(), Position())
    return state.params

  plain, again = trained(config), trained(config)
  shifted = trained(config.replace(shift_pixels=1))

  chex.assert_trees_all_equal(plain, again)
  assert not np.allclose(plain[0]["w"], shifted[0]["w"])


# The softmax readout.


def test_neutral_first_layer_shares_the_hot_value_among_the_labels():
  num_classes, hot_value, epsilon = 4, 2.5, 1e-4
  params = helpers.random_network(jax.random.PRNGKey(4), (20, 16))[0]
  images = jax.random.normal(jax.random.PRNGKey(5), (6, 20))
  prepared = layers.prepare_first_layer_inputs(
      images, num_classes=num_classes, hot_value=hot_value, epsilon=epsilon
  )

  activity = readout.neutral_first_layer_activations(
      params,
      layers.first_layer_products_of_prepared(params, prepared),
      num_classes=num_classes,
  )

  pixels = images[:, num_classes:]
  norm = jnp.sqrt(jnp.sum(pixels**2, axis=1, keepdims=True) + hot_value**2)
  neutral = jnp.full((6, num_classes), hot_value / num_classes)
  embedded = jnp.concatenate([neutral, pixels], axis=1) / (norm + epsilon)
  expected = jax.nn.relu(embedded @ params["w"] + params["b"][None, :])
  chex.assert_trees_all_close(activity, expected, atol=1e-5)


def test_a_zero_readout_is_uniform():
  params = readout.init_readout(7, 5)

  log_probs = readout.log_probabilities(params, jnp.ones((3, 7)))

  chex.assert_trees_all_close(log_probs, jnp.full((3, 5), -np.log(5.0)))


def test_readout_scores_are_laid_out_as_goodness_scores():
  config = Config(layer_sizes=(20, 16, 12), readout="softmax", **SIMULTANEOUS)
  network = [
      {**params, **readout.init_readout(width, 4)}
      for params, width in zip(
          helpers.random_network(jax.random.PRNGKey(6), config.layer_sizes),
          config.layer_sizes[1:],
          strict=True,
      )
  ]
  network[1]["readout_b"] = jnp.array([0.0, 0.0, 5.0, 0.0])
  images = jax.random.normal(jax.random.PRNGKey(7), (6, 20))
  options = dict(config=config, num_classes=4, hot_value=2.5)

  scores = evaluation.candidate_scores(network, images, **options)

  chex.assert_shape(scores, (6, 4, 2))
  chex.assert_trees_all_close(
      jnp.sum(jnp.exp(scores), axis=1), jnp.ones((6, 2)), atol=1e-5
  )
  chex.assert_trees_all_equal(
      evaluation.predict(network, images, **options), jnp.full((6,), 2)
  )


def test_the_readout_never_changes_how_the_layers_learn():
  # Its gradient stops at the activity, and its optimiser is its own, so
  # the layers' weights end where they end without it.
  config = Config(
      dataset="digits",
      layer_sizes=(64, 30, 30),
      epochs=2,
      batch_size=50,
      eval_every=2,
      **SIMULTANEOUS,
  )
  dataset = helpers.digits_dataset()

  def trained(config):
    trainer = Trainer(config, dataset)
    state, _ = trainer.run(trainer.initial_state(), Position())
    return state.params

  without = trained(config)
  with_readout = trained(config.replace(readout="softmax"))

  for plain, read in zip(without, with_readout, strict=True):
    assert set(read) == {"w", "b", "readout_w", "readout_b"}
    chex.assert_trees_all_close(
        plain, {"w": read["w"], "b": read["b"]}, atol=1e-6
    )
    assert np.any(np.asarray(read["readout_w"]) != 0)


def test_readout_learns_digits_with_jitter():
  config = Config(
      dataset="digits",
      layer_sizes=(64, 100, 100),
      epochs=10,
      batch_size=50,
      learning_rate=0.03,
      eval_every=10,
      readout="softmax",
      shift_pixels=1,
      **SIMULTANEOUS,
  )
  trainer = Trainer(config, helpers.digits_dataset())

  state, _ = trainer.run(trainer.initial_state(), Position())

  # Measured: 0.84 test with these settings (0.96 without the shift,
  # which moves an 8x8 digit a long way).
  assert trainer.accuracy(state, "test")[0, -1] >= 0.75


def test_init_state_gives_each_layer_a_classifier():
  config = Config(layer_sizes=(20, 16, 12), readout="softmax", **SIMULTANEOUS)

  state = training.init_state(config, training.seed_keys(config), 100, 4)

  chex.assert_shape(state.params[0]["readout_w"], (1, 16, 4))
  chex.assert_shape(state.params[1]["readout_b"], (1, 4))
