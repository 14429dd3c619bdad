"""The switches beyond the paper, and the backprop baseline.

Hard negatives from the network's own scores, the symmetric pair loss,
prediction from the deeper layers, and `experiments.backprop`.
"""

import chex
import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amsga_jax import Config
from amsga_jax import Position
from amsga_jax import Trainer
from amsga_jax import evaluation
from amsga_jax import labels as labels_lib
from amsga_jax import layers
from amsga_jax import objective
from amsga_jax import training
from experiments import backprop

BASELINE = dict(
    multiscale=False,
    curriculum=False,
    adaptive_threshold=False,
    warmup_cosine=False,
)


# Hard negatives.


def test_hardest_wrong_label_by_hand():
  goodness = jnp.array(
      [
          [5.0, 1.0, 3.0, 2.0],  # True 0: the best wrong label is 2.
          [0.0, 9.0, 1.0, 8.0],  # True 1: the best wrong label is 3.
          [7.0, 6.0, 0.0, 1.0],  # True 0: the best wrong label is 1.
      ]
  )

  chosen = labels_lib.hard_wrong_labels(
      jax.random.PRNGKey(0), goodness, jnp.array([0, 1, 0]), mode="hardest"
  )

  chex.assert_trees_all_equal(chosen, jnp.array([2, 3, 1], jnp.int32))


def test_sampled_wrong_labels_follow_softmax_over_wrong_labels():
  goodness = jnp.tile(jnp.array([[0.0, 1.0, 2.0, 9.0]]), (40_000, 1))
  labels = jnp.full((40_000,), 3)

  chosen = labels_lib.hard_wrong_labels(
      jax.random.PRNGKey(1), goodness, labels, mode="sampled"
  )

  frequencies = np.bincount(np.asarray(chosen), minlength=4) / 40_000
  expected = np.exp([0.0, 1.0, 2.0]) / np.sum(np.exp([0.0, 1.0, 2.0]))
  assert frequencies[3] == 0.0
  np.testing.assert_allclose(frequencies[:3], expected, atol=0.01)


def test_hard_wrong_labels_rejects_unknown_mode():
  with pytest.raises(ValueError, match="mode"):
    labels_lib.hard_wrong_labels(
        jax.random.PRNGKey(0), jnp.zeros((2, 3)), jnp.zeros(2, int), mode="x"
    )


@pytest.mark.parametrize("multiscale", [False, True])
def test_layer_goodness_under_every_label_matches_candidate_goodness(
    multiscale,
):
  config = Config(layer_sizes=(20, 16, 12), multiscale=multiscale)
  network = helpers.random_network(jax.random.PRNGKey(2), config.layer_sizes)
  images = jax.random.normal(jax.random.PRNGKey(3), (6, 20))
  options = dict(config=config, num_classes=4, hot_value=2.5)
  expected = evaluation.candidate_goodness(network, images, **options)

  prepared = layers.prepare_first_layer_inputs(
      images, num_classes=4, hot_value=2.5, epsilon=config.norm_epsilon
  )
  first = training.layer_goodness_under_every_label(
      network[0], prepared, layer_index=0, config=config, num_classes=4
  )
  table = layers.layer_inputs_for_all_labels(
      network[:1],
      images,
      num_classes=4,
      hot_value=2.5,
      epsilon=config.norm_epsilon,
  )
  second = training.layer_goodness_under_every_label(
      network[1], table, layer_index=1, config=config, num_classes=4
  )

  chex.assert_shape(first, (6, 4))
  chex.assert_trees_all_close(first, expected[..., 0], rtol=1e-5, atol=1e-5)
  chex.assert_trees_all_close(second, expected[..., 1], rtol=1e-5, atol=1e-5)


# The symmetric loss.


def test_symmetric_loss_by_hand():
  config = Config(layer_sizes=(8, 2, 2), loss="symmetric", **BASELINE)
  positive = jnp.array([[2.0, 0.0], [1.0, 1.0]])  # Goodness 2.0 and 1.0.
  negative = jnp.array([[0.0, 0.0], [2.0, 2.0]])  # Goodness 0.0 and 4.0.

  loss, metrics = objective.layer_loss(
      positive,
      negative,
      threshold=jnp.float32(2.0),
      progress=jnp.float32(0.5),
      selection_key=jax.random.PRNGKey(0),
      layer_index=0,
      config=config,
  )

  alpha = config.symmetric_alpha
  expected = 0.5 * (
      np.log1p(np.exp(-alpha * 2.0)) + np.log1p(np.exp(alpha * 3.0))
  )
  np.testing.assert_allclose(loss, expected, rtol=1e-6)
  np.testing.assert_allclose(metrics["goodness_positive"], 1.5)


def test_symmetric_loss_ignores_threshold():
  config = Config(layer_sizes=(8, 3, 3), loss="symmetric", **BASELINE)
  positive, negative = jax.random.uniform(jax.random.PRNGKey(4), (2, 5, 3))

  def loss_at(threshold):
    return objective.layer_loss(
        positive,
        negative,
        threshold=jnp.float32(threshold),
        progress=jnp.float32(0.2),
        selection_key=jax.random.PRNGKey(0),
        layer_index=0,
        config=config,
    )[0]

  chex.assert_trees_all_close(loss_at(1.0), loss_at(5.0))


# Prediction from the deeper layers.


def test_summed_goodness_by_depth_skips_first_layers():
  goodness = jnp.array([1.0, 10.0, 100.0, 1000.0])

  chex.assert_trees_all_close(
      evaluation.summed_goodness_by_depth(goodness, 0),
      jnp.array([1.0, 11.0, 111.0, 1111.0]),
  )
  chex.assert_trees_all_close(
      evaluation.summed_goodness_by_depth(goodness, 2),
      jnp.array([1.0, 11.0, 100.0, 1100.0]),
  )


def test_accuracy_and_predict_from_deeper_layers():
  # Image 0: layer 1 prefers label 0, layer 2 label 1 by more.
  goodness = jnp.array([[[5.0, 0.0], [0.0, 3.0]]])  # [B=1, C=2, L=2]
  labels = jnp.array([1])

  by_depth_all = evaluation.accuracy_by_depth(goodness, labels)
  by_depth_deep = evaluation.accuracy_by_depth(goodness, labels, 1)

  chex.assert_trees_all_close(by_depth_all, jnp.array([0.0, 0.0]))
  chex.assert_trees_all_close(by_depth_deep, jnp.array([0.0, 1.0]))


def test_predict_uses_predict_from_layer():
  config = Config(layer_sizes=(20, 16, 12), **BASELINE)
  network = helpers.random_network(jax.random.PRNGKey(5), config.layer_sizes)
  images = jax.random.normal(jax.random.PRNGKey(6), (30, 20))
  options = dict(num_classes=4, hot_value=2.5)
  goodness = evaluation.candidate_goodness(
      network, images, config=config, **options
  )

  deep = evaluation.predict(
      network,
      images,
      config=config.replace(predict_from_layer=1),
      **options,
  )

  chex.assert_trees_all_equal(deep, jnp.argmax(goodness[..., 1], axis=-1))


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(negative_labels="worst"), "negative_labels"),
        (dict(loss="hinge"), "loss"),
        (dict(symmetric_alpha=0.0), "symmetric_alpha"),
        (dict(predict_from_layer=3), "predict_from_layer"),
        (dict(predict_from_layer=-1), "predict_from_layer"),
    ],
)
def test_new_switches_are_validated(changes, message):
  with pytest.raises(ValueError, match=message):
    Config(**changes).validate()


# End to end on scikit-learn's digits.

DIGITS_RUN = Config(
    dataset="digits",
    layer_sizes=(64, 200, 200),
    epochs=30,
    batch_size=100,
    learning_rate=0.03,
    eval_every=30,
    **BASELINE,
)


@pytest.mark.parametrize(
    "changes",
    [
        dict(negative_labels="hardest"),
        dict(negative_labels="sampled", loss="symmetric"),
        dict(
            schedule="simultaneous",
            negative_labels="sampled",
            loss="symmetric",
            predict_from_layer=1,
        ),
    ],
    ids=["layerwise-hardest", "layerwise-sampled-symmetric", "simultaneous"],
)
def test_digits_learn_with_switches(changes):
  # Measured at 60 epochs: 0.97, 0.98 and 0.99 test accuracy; these run 30.
  trainer = Trainer(DIGITS_RUN.replace(**changes), helpers.digits_dataset())

  state, position = trainer.run(trainer.initial_state(), Position())

  assert position.phase == trainer.num_phases
  assert trainer.accuracy(state, "test")[0, -1] >= 0.85


# The backprop baseline.


def test_backprop_mlp_learns_digits_and_picks_by_validation():
  results = backprop.train(
      helpers.digits_dataset(),
      layer_sizes=(64, 100),
      epochs=10,
      batch_size=50,
      learning_rate=3e-3,
      seeds=(0, 1),
  )

  validation = np.asarray(results["curves"]["validation"])
  test = np.asarray(results["curves"]["test"])
  best = np.asarray(results["best_epoch"]) - 1
  assert results["test_accuracy"]["mean"] >= 0.85
  np.testing.assert_allclose(
      results["validation_accuracy"]["per_seed"], validation.max(axis=0)
  )
  np.testing.assert_allclose(
      results["test_accuracy"]["per_seed"], test[best, [0, 1]]
  )


def test_backprop_with_jitter_learns_and_differs_from_without():
  options = dict(
      layer_sizes=(64, 50),
      epochs=3,
      batch_size=50,
      learning_rate=3e-3,
      seeds=(0,),
  )

  plain = backprop.train(helpers.digits_dataset(), **options)
  jittered = backprop.train(
      helpers.digits_dataset(), shift_pixels=1, mirror=True, **options
  )

  assert plain["curves"]["loss"] != jittered["curves"]["loss"]
  assert jittered["shift_pixels"] == 1 and jittered["mirror"]
  # Chance is 0.1; measured 0.47 (a one-pixel shift and a mirror image
  # move an 8x8 digit a long way, and this is three epochs).
  assert jittered["test_accuracy"]["mean"] >= 0.3
  with pytest.raises(ValueError, match="below the image side"):
    backprop.train(helpers.digits_dataset(), shift_pixels=8, **options)


def test_backprop_rejects_wrong_input_width():
  with pytest.raises(ValueError, match="input width"):
    backprop.train(
        helpers.digits_dataset(),
        layer_sizes=(784, 100),
        epochs=1,
        batch_size=50,
        learning_rate=1e-3,
        seeds=(0,),
    )


def test_beyond_study_undoes_one_switch_at_a_time():
  from experiments import ablation

  best = Config(
      schedule="simultaneous",
      negative_labels="sampled",
      loss="symmetric",
      predict_from_layer=1,
      **{**BASELINE, "warmup_cosine": True},
  )

  variants = ablation.beyond_variants(best)

  assert list(variants) == [
      "best",
      "random_negatives",
      "threshold_loss",
      "layerwise",
      "predict_from_all_layers",
      "no_warmup_cosine",
      "plus_softmax_readout",
      "plus_multiscale",
      "plus_curriculum",
      "plus_adaptive_threshold",
      "plain_ff",
  ]
  fields = best.to_dict()
  for name, variant in variants.items():
    changed = {k for k, v in variant.to_dict().items() if fields[k] != v}
    if name == "best":
      assert not changed
    elif name == "plain_ff":
      assert changed == {
          "negative_labels",
          "loss",
          "schedule",
          "predict_from_layer",
          "warmup_cosine",
      }
    else:
      assert len(changed) == 1, (name, changed)


def test_beyond_study_of_jitter_and_readout():
  from experiments import ablation

  best = Config(
      schedule="simultaneous",
      loss="symmetric",
      shift_pixels=2,
      mirror=True,
      readout="softmax",
      **BASELINE,
  )

  variants = ablation.beyond_variants(best)

  for name in ("no_shift", "no_mirror", "goodness_readout"):
    assert name in variants
  assert "plus_softmax_readout" not in variants
  fields = best.to_dict()
  for name, variant in variants.items():
    variant.validate()
    changed = {k for k, v in variant.to_dict().items() if fields[k] != v}
    if name == "layerwise":
      assert changed == {"schedule", "shift_pixels", "mirror", "readout"}
    elif name not in ("best", "plain_ff"):
      assert len(changed) == 1, (name, changed)


# The best_* presets.


def test_best_preset_recipe_learns_digits():
  from experiments import presets

  config = presets.best_mnist_pi().replace(
      dataset="digits",
      layer_sizes=(64, 100, 100),
      epochs=10,
      eval_every=10,
      checkpoint_every=0,
  )
  trainer = Trainer(config, helpers.digits_dataset())

  state, _ = trainer.run(trainer.initial_state(), Position())

  assert trainer.accuracy(state, "test")[0, -1] >= 0.85


@pytest.mark.parametrize("dataset", ["mnist", "fmnist"])
def test_best_presets_are_the_permutation_invariant_ones_with_jitter(dataset):
  from experiments import presets

  jittered = presets.get_preset(f"best_{dataset}")
  invariant = presets.get_preset(f"best_{dataset}_pi")

  assert jittered.shift_pixels > 0
  assert invariant.shift_pixels == 0 and not invariant.mirror
  assert (
      jittered.replace(
          shift_pixels=0,
          mirror=False,
          epochs=invariant.epochs,
          eval_every=invariant.eval_every,
          checkpoint_every=invariant.checkpoint_every,
      )
      == invariant
  )
  jittered.validate()


def test_best_fmnist_pi_is_best_mnist_pi_on_fashion_mnist():
  from experiments import presets

  mnist, fmnist = presets.best_mnist_pi(), presets.best_fmnist_pi()

  assert mnist.replace(dataset="fashion_mnist") == fmnist
  assert mnist.schedule == "simultaneous"
  assert mnist.negative_labels != "random" and mnist.loss == "symmetric"
