"""Label embedding, negative labels, and the normalised ReLU layers."""

import chex
import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amsga_jax import labels
from amsga_jax import layers

_EPSILON = 1e-4


def test_embed_labels_by_hand():
  # C = 3: the first three inputs become hot_value * one_hot(label), the
  # rest are the image's own.
  images = jnp.array(
      [[9.0, 9.0, 9.0, 9.0, 5.0, 6.0], [9.0, 9.0, 9.0, 9.0, 7.0, 8.0]]
  )

  embedded = labels.embed_labels(
      images, jnp.array([2, 0]), num_classes=3, hot_value=1.5
  )

  expected = jnp.array(
      [[0.0, 0.0, 1.5, 9.0, 5.0, 6.0], [1.5, 0.0, 0.0, 9.0, 7.0, 8.0]]
  )
  chex.assert_trees_all_equal(embedded, expected)


def test_wrong_labels_are_never_the_true_ones():
  true_labels = jax.random.randint(jax.random.PRNGKey(0), (5000,), 0, 10)

  draws = jnp.stack(
      [
          labels.sample_wrong_labels(
              jax.random.PRNGKey(seed), true_labels, num_classes=10
          )
          for seed in range(20)
      ]
  )

  chex.assert_type(draws, jnp.int32)
  assert int(jnp.min(draws)) >= 0 and int(jnp.max(draws)) <= 9
  assert not bool(jnp.any(draws == true_labels[None, :]))


def test_wrong_labels_are_uniform_over_the_wrong_ones():
  # 90 000 draws for the true label 3: each of the 9 wrong labels expected
  # 10 000 times, binomial standard deviation about 94; allow 5 of them.
  true_labels = jnp.full((90_000,), 3, jnp.int32)

  wrong = labels.sample_wrong_labels(
      jax.random.PRNGKey(1), true_labels, num_classes=10
  )

  counts = np.bincount(np.asarray(wrong), minlength=10)
  assert counts[3] == 0
  np.testing.assert_allclose(np.delete(counts, 3), 10_000, atol=470)


def test_wrong_label_of_two_classes_is_the_other_one():
  true_labels = jnp.array([0, 1, 1, 0, 1])

  wrong = labels.sample_wrong_labels(
      jax.random.PRNGKey(2), true_labels, num_classes=2
  )

  chex.assert_trees_all_equal(wrong, 1 - true_labels)


def test_init_layer_is_kaiming_normal_with_zero_bias():
  # 400 x 500 weights: the sample std of N(0, 2 / 400) is within 1% of
  # sqrt(2 / 400) with overwhelming probability.
  params = layers.init_layer(jax.random.PRNGKey(0), 400, 500)

  chex.assert_shape(params["w"], (400, 500))
  chex.assert_trees_all_equal(params["b"], jnp.zeros(500))
  assert abs(float(jnp.std(params["w"])) / np.sqrt(2 / 400) - 1) < 0.01
  assert abs(float(jnp.mean(params["w"]))) < 0.002


def test_init_network_chains_the_widths():
  network = layers.init_network(jax.random.PRNGKey(0), (20, 16, 12, 8))

  chex.assert_shape([p["w"] for p in network], [(20, 16), (16, 12), (12, 8)])
  chex.assert_shape([p["b"] for p in network], [(16,), (12,), (8,)])
  # Each layer draws from its own key.
  assert not np.allclose(network[1]["w"][:8, :8], network[2]["w"][:8, :8])


def test_normalize_direction_by_hand():
  # |(3, 4)| = 5: (3, 4) / (5 + 1e-4); |(0, 0)| = 0: stays 0.
  inputs = jnp.array([[3.0, 4.0], [0.0, 0.0]])

  normalized = layers.normalize_direction(inputs, 1e-4)

  expected = jnp.array([[3 / 5.0001, 4 / 5.0001], [0.0, 0.0]])
  chex.assert_trees_all_close(normalized, expected, rtol=1e-6)


def test_hidden_layer_by_hand():
  # x W + b = (1 * 1 + 1 * 2, 1 * -1 + 1 * 0) + (0.5, -3) = (3.5, -4);
  # relu: (3.5, 0).
  params = {
      "w": jnp.array([[1.0, -1.0], [2.0, 0.0]]),
      "b": jnp.array([0.5, -3]),
  }

  outputs = layers.hidden_layer(params, jnp.array([[1.0, 1.0]]))

  chex.assert_trees_all_close(outputs, jnp.array([[3.5, 0.0]]))


@pytest.mark.parametrize("scale", [0.5, 3.0, 250.0])
def test_layer_output_ignores_the_scale_of_its_input(scale):
  # Inputs of norm >= 0.5 * sqrt(16 * 0.25) = 1 after scaling: epsilon moves
  # the unit-scale pre-activations by about 1e-4 / 1 at most. A layer that
  # read the input's length would be off by a factor `scale`.
  params = helpers.random_network(jax.random.PRNGKey(0), (16, 8))[0]
  inputs = jax.nn.relu(jax.random.normal(jax.random.PRNGKey(1), (5, 16))) + 0.5

  def layer(x):
    return layers.hidden_layer(params, layers.normalize_direction(x, _EPSILON))

  chex.assert_trees_all_close(
      layer(scale * inputs), layer(inputs), rtol=0, atol=1e-4
  )


def test_factored_first_layer_gradient_equals_plain_gradient():
  # Training differentiates the factored form: its weight gradient (one
  # shared product for positives and negatives, one-hot products for the
  # label rows) must be the plain computation's.
  num_classes, hot_value = 4, 2.8
  params = helpers.random_network(jax.random.PRNGKey(3), (20, 9))[0]
  images = jax.random.normal(jax.random.PRNGKey(4), (11, 20))
  positive = jax.random.randint(jax.random.PRNGKey(5), (11,), 0, num_classes)
  negative = (positive + 1) % num_classes

  def factored_loss(params):
    prepared = layers.prepare_first_layer_inputs(
        images, num_classes=num_classes, hot_value=hot_value, epsilon=_EPSILON
    )
    products = layers.first_layer_products_of_prepared(params, prepared)
    return sum(
        sign
        * jnp.sum(
            layers.first_layer_activations(
                params, products, chosen, num_classes=num_classes
            )
            ** 2
        )
        for sign, chosen in ((1.0, positive), (-0.5, negative))
    )

  def plain_loss(params):
    return sum(
        sign
        * jnp.sum(
            layers.hidden_layer(
                params,
                layers.normalize_direction(
                    labels.embed_labels(
                        images,
                        chosen,
                        num_classes=num_classes,
                        hot_value=hot_value,
                    ),
                    _EPSILON,
                ),
            )
            ** 2
        )
        for sign, chosen in ((1.0, positive), (-0.5, negative))
    )

  factored = jax.grad(factored_loss)(params)
  plain = jax.grad(plain_loss)(params)

  chex.assert_trees_all_close(factored, plain, rtol=1e-5, atol=1e-6)
  assert float(jnp.max(jnp.abs(plain["w"][:num_classes]))) > 1e-3


def test_factored_first_layer_equals_embed_normalize_layer():
  num_classes, hot_value = 10, 2.8
  params = helpers.random_network(jax.random.PRNGKey(0), (30, 12))[0]
  images = jax.random.normal(jax.random.PRNGKey(1), (7, 30))
  chosen = jax.random.randint(jax.random.PRNGKey(2), (7,), 0, num_classes)

  products = layers.first_layer_products(
      params,
      images,
      num_classes=num_classes,
      hot_value=hot_value,
      epsilon=_EPSILON,
  )
  factored = layers.first_layer_activations(
      params, products, chosen, num_classes=num_classes
  )

  embedded = labels.embed_labels(
      images, chosen, num_classes=num_classes, hot_value=hot_value
  )
  plain = layers.hidden_layer(
      params, layers.normalize_direction(embedded, _EPSILON)
  )
  chex.assert_shape(factored, (7, 12))
  chex.assert_trees_all_close(factored, plain, atol=1e-5)
  assert float(jnp.max(plain)) > 0.1


@pytest.mark.parametrize(
    "layer_sizes",
    [
        pytest.param((30, 12), id="one_layer"),
        pytest.param((30, 12, 9, 11), id="three_layers"),
    ],
)
def test_layer_inputs_for_all_labels_equal_the_plain_computation(layer_sizes):
  num_classes, hot_value = 10, 2.8
  network = helpers.random_network(jax.random.PRNGKey(0), layer_sizes)
  images = jax.random.normal(jax.random.PRNGKey(1), (6, 30))

  table = layers.layer_inputs_for_all_labels(
      network,
      images,
      num_classes=num_classes,
      hot_value=hot_value,
      epsilon=_EPSILON,
  )

  expected = []
  for label in range(num_classes):
    activity = labels.embed_labels(
        images,
        jnp.full((6,), label),
        num_classes=num_classes,
        hot_value=hot_value,
    )
    for params in network:
      activity = layers.hidden_layer(
          params, layers.normalize_direction(activity, _EPSILON)
      )
    expected.append(layers.normalize_direction(activity, _EPSILON))
  chex.assert_shape(table, (num_classes, 6, layer_sizes[-1]))
  chex.assert_trees_all_close(table, jnp.stack(expected), atol=1e-5)
