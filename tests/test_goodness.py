"""Multi-scale goodness (eqs. 2-6) against values worked out by hand."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amsga_jax import Config
from amsga_jax import goodness
from amsga_jax import objective


def test_pooling_matrix_uneven_pools():
  # N = 5, K = 2: sizes 5 // 2 = 2, plus one for the first 5 % 2 = 1 pool,
  # so pools {0, 1, 2} (entries 1/3) and {3, 4} (entries 1/2).
  expected = np.array(
      [
          [1 / 3, 0.0],
          [1 / 3, 0.0],
          [1 / 3, 0.0],
          [0.0, 1 / 2],
          [0.0, 1 / 2],
      ],
      np.float32,
  )

  matrix = goodness.pooling_matrix(5, 2)

  chex.assert_shape(matrix, (5, 2))
  chex.assert_trees_all_close(matrix, expected)


@pytest.mark.parametrize(
    "num_neurons, num_pools, sizes",
    [
        pytest.param(8, 4, [2, 2, 2, 2], id="even"),
        pytest.param(7, 3, [3, 2, 2], id="uneven_7_3"),
        pytest.param(10, 4, [3, 3, 2, 2], id="uneven_10_4"),
        pytest.param(6, 6, [1] * 6, id="identity"),
        pytest.param(6, 1, [6], id="single_pool"),
    ],
)
def test_pooling_matrix_pool_sizes(num_neurons, num_pools, sizes):
  matrix = goodness.pooling_matrix(num_neurons, num_pools)

  # Every neuron in exactly one pool, pools contiguous with the given sizes.
  members = matrix > 0
  np.testing.assert_array_equal(members.sum(axis=1), np.ones(num_neurons))
  np.testing.assert_array_equal(members.sum(axis=0), sizes)
  np.testing.assert_array_equal(
      np.argmax(members, axis=1), np.repeat(np.arange(num_pools), sizes)
  )

  # Each column averages its pool: entries 1 / |P_k|, summing to one.
  chex.assert_trees_all_close(matrix.sum(axis=0), np.ones(num_pools))


@pytest.mark.parametrize(
    "num_neurons, num_pools",
    [
        pytest.param(5, 0, id="no_pools"),
        pytest.param(5, 6, id="more_pools_than_neurons"),
    ],
)
def test_pooling_matrix_rejects_bad_pool_counts(num_neurons, num_pools):
  with pytest.raises(ValueError, match=f"num_pools={num_pools}"):
    goodness.pooling_matrix(num_neurons, num_pools)


def test_pooled_energy_uneven_pools_by_hand():
  # Pools {0, 1, 2} and {3, 4} of pooling_matrix(5, 2).
  # Row 0, h = (1, 2, 3, 4, 5): means 6/3 = 2 and 9/2 = 4.5,
  #   E = (2^2 + 4.5^2) / 2 = (4 + 20.25) / 2 = 12.125.
  # Row 1, h = (0, 0, 3, 0, 2): means 3/3 = 1 and 2/2 = 1,
  #   E = (1 + 1) / 2 = 1.
  activations = jnp.array(
      [[1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 0.0, 3.0, 0.0, 2.0]]
  )
  pooling = jnp.asarray(goodness.pooling_matrix(5, 2))

  energy = goodness.pooled_energy(activations, pooling)

  chex.assert_shape(energy, (2,))
  chex.assert_trees_all_close(energy, jnp.array([12.125, 1.0]))


@pytest.mark.parametrize(
    "num_neurons, num_pools",
    [
        pytest.param(24, 4, id="equal_pools"),
        pytest.param(500, 8, id="uneven_pools"),
        pytest.param(7, 7, id="one_neuron_each"),
        pytest.param(7, 1, id="one_pool"),
    ],
)
def test_pool_means_match_the_pooling_matrix_and_its_gradient(
    num_neurons, num_pools
):
  activations = jax.nn.relu(
      jax.random.normal(jax.random.PRNGKey(5), (7, num_neurons))
  )
  pooling = jnp.asarray(goodness.pooling_matrix(num_neurons, num_pools))
  weights = jax.random.normal(jax.random.PRNGKey(6), (7, num_pools))

  by_reshape = goodness.pool_means(activations, num_pools)
  gradient_by_reshape = jax.grad(
      lambda h: jnp.sum(weights * goodness.pool_means(h, num_pools) ** 2)
  )(activations)
  gradient_by_matrix = jax.grad(
      lambda h: jnp.sum(weights * (h @ pooling) ** 2)
  )(activations)

  chex.assert_shape(by_reshape, (7, num_pools))
  chex.assert_trees_all_close(by_reshape, activations @ pooling, rtol=1e-5)
  chex.assert_trees_all_close(
      gradient_by_reshape, gradient_by_matrix, rtol=1e-4, atol=1e-7
  )
  assert float(jnp.max(by_reshape)) > 0.1


@pytest.mark.parametrize("num_neurons", [24, 25])
def test_goodness_scales_intermediate_is_the_pooled_energy(num_neurons):
  # 24 neurons split into 4 equal pools, 25 into uneven ones: both are
  # eq. 3, the energy after the pooling matrix.
  activations = jax.nn.relu(
      jax.random.normal(jax.random.PRNGKey(6), (3, num_neurons))
  )
  pooling = jnp.asarray(goodness.pooling_matrix(num_neurons, 4))

  scales = goodness.goodness_scales(activations, num_groups=4)

  chex.assert_trees_all_close(
      scales.intermediate,
      goodness.pooled_energy(activations, pooling),
      rtol=1e-6,
  )


def test_local_and_global_closed_forms_equal_pooled_energy():
  activations = jax.nn.relu(jax.random.normal(jax.random.PRNGKey(0), (4, 12)))

  scales = goodness.goodness_scales(activations, num_groups=3)

  # K = N: every neuron its own pool; K = 1: one pool of all neurons.
  per_neuron = jnp.asarray(goodness.pooling_matrix(12, 12))
  one_pool = jnp.asarray(goodness.pooling_matrix(12, 1))
  chex.assert_trees_all_close(
      goodness.local_goodness(activations),
      goodness.pooled_energy(activations, per_neuron),
      rtol=1e-6,
  )
  chex.assert_trees_all_close(
      scales.local, goodness.pooled_energy(activations, per_neuron), rtol=1e-6
  )
  chex.assert_trees_all_close(
      scales.global_, goodness.pooled_energy(activations, one_pool), rtol=1e-6
  )


def test_goodness_scales_by_hand():
  # h = (1, 3, 0, 2, 4, 2), N = 6, K = 2 (N >= 2K, so pools are used):
  #   local        = (1 + 9 + 0 + 4 + 16 + 4) / 6 = 34 / 6
  #   intermediate = pools (1, 3, 0) and (2, 4, 2), means 4/3 and 8/3:
  #                  (16/9 + 64/9) / 2 = 40 / 9
  #   global       = (12 / 6)^2 = 4
  activations = jnp.array([[1.0, 3.0, 0.0, 2.0, 4.0, 2.0]])

  scales = goodness.goodness_scales(activations, num_groups=2)

  chex.assert_trees_all_close(
      tuple(scales),
      (jnp.array([34 / 6]), jnp.array([40 / 9]), jnp.array([4.0])),
      rtol=1e-6,
  )


@pytest.mark.parametrize(
    "num_neurons, num_groups, falls_back",
    [
        pytest.param(5, 3, True, id="N5_K3_below_2K"),
        pytest.param(7, 4, True, id="N7_K4_below_2K"),
        pytest.param(6, 3, False, id="N6_K3_exactly_2K"),
        pytest.param(5, 2, False, id="N5_K2_uneven"),
    ],
)
def test_intermediate_scale_falls_back_to_local_below_two_per_pool(
    num_neurons, num_groups, falls_back
):
  # Activity concentrated in the first neuron: pooling then lowers the
  # energy, so the pooled and the local values differ.
  activations = jnp.zeros((2, num_neurons)).at[:, 0].set(jnp.array([1.0, 2.0]))
  pooled = goodness.pooled_energy(
      activations,
      jnp.asarray(goodness.pooling_matrix(num_neurons, num_groups)),
  )

  scales = goodness.goodness_scales(activations, num_groups=num_groups)

  expected = scales.local if falls_back else pooled
  chex.assert_trees_all_close(scales.intermediate, expected, rtol=1e-6)
  assert not np.allclose(pooled, scales.local)


def test_batch_reading_of_the_global_scale():
  # Local goodness of the rows (1, 1), (2, 0), (0, 0): 1, 2, 0.
  # Batch reading: their batch mean, 1, broadcast to every example.
  activations = jnp.array([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])

  batch = goodness.goodness_scales(
      activations, num_groups=1, global_goodness="batch"
  )
  example = goodness.goodness_scales(
      activations, num_groups=1, global_goodness="example"
  )

  chex.assert_trees_all_close(batch.local, jnp.array([1.0, 2.0, 0.0]))
  chex.assert_trees_all_close(batch.global_, jnp.array([1.0, 1.0, 1.0]))
  # Per example (K = 1): (mean h)^2 = 1, 1, 0.
  chex.assert_trees_all_close(example.global_, jnp.array([1.0, 1.0, 0.0]))
  chex.assert_trees_all_close(batch.intermediate, example.intermediate)


def test_unknown_global_reading_is_rejected():
  with pytest.raises(ValueError, match="global_goodness='dataset'"):
    goodness.goodness_scales(
        jnp.ones((2, 4)), num_groups=1, global_goodness="dataset"
    )


@pytest.mark.parametrize(
    "layer_index, num_layers, expected",
    [
        pytest.param(0, 1, 0.0, id="single_layer"),
        pytest.param(0, 2, 0.0, id="first_of_2"),
        pytest.param(1, 2, 1.0, id="last_of_2"),
        pytest.param(1, 4, 1 / 3, id="second_of_4"),
        pytest.param(2, 4, 2 / 3, id="third_of_4"),
        pytest.param(3, 4, 1.0, id="last_of_4"),
    ],
)
def test_relative_depth(layer_index, num_layers, expected):
  # d_l = (l - 1) / (L - 1) with l = layer_index + 1; 0 when L = 1.
  assert goodness.relative_depth(layer_index, num_layers) == pytest.approx(
      expected
  )


@pytest.mark.parametrize("layer_index", [-1, 4])
def test_relative_depth_rejects_layers_outside_the_network(layer_index):
  with pytest.raises(ValueError, match=f"layer_index={layer_index}"):
    goodness.relative_depth(layer_index, 4)


@pytest.mark.parametrize(
    "layer_index, num_layers, expected",
    [
        # L = 1: d = 0, the first-layer weights.
        pytest.param(0, 1, (0.5, 0.3, 0.2), id="L1"),
        # L = 2: d = 0 and 1, the two ends.
        pytest.param(0, 2, (0.5, 0.3, 0.2), id="L2_first"),
        pytest.param(1, 2, (0.2, 0.3, 0.5), id="L2_last"),
        # L = 4: alpha = 0.5 - 0.3 d, gamma = 0.2 + 0.3 d, beta = 0.3.
        pytest.param(0, 4, (0.5, 0.3, 0.2), id="L4_d0"),
        pytest.param(1, 4, (0.4, 0.3, 0.3), id="L4_d1/3"),
        pytest.param(2, 4, (0.3, 0.3, 0.4), id="L4_d2/3"),
        pytest.param(3, 4, (0.2, 0.3, 0.5), id="L4_d1"),
    ],
)
def test_depth_weights_defaults(layer_index, num_layers, expected):
  weights = goodness.depth_weights(layer_index, num_layers)

  chex.assert_trees_all_close(weights, expected, atol=1e-12)
  assert sum(weights) == pytest.approx(1.0)


def test_depth_weights_custom_ends():
  # d = 1/2 (second of three): halfway between (0.6, 0.2, 0.2) and
  # (0.0, 0.2, 0.8), i.e. (0.3, 0.2, 0.5).
  weights = goodness.depth_weights(
      1, 3, first=(0.6, 0.2, 0.2), last=(0.0, 0.2, 0.8)
  )

  chex.assert_trees_all_close(weights, (0.3, 0.2, 0.5), atol=1e-12)


def test_aggregate_goodness_by_hand():
  # G = 0.5 g_loc + 0.3 g_int + 0.2 g_glob:
  #   example 0: 0.5 * 1 + 0.3 * 3 + 0.2 * 5 = 0.5 + 0.9 + 1.0 = 2.4
  #   example 1: 0.5 * 2 + 0.3 * 4 + 0.2 * 6 = 1.0 + 1.2 + 1.2 = 3.4
  scales = goodness.GoodnessScales(
      local=jnp.array([1.0, 2.0]),
      intermediate=jnp.array([3.0, 4.0]),
      global_=jnp.array([5.0, 6.0]),
  )

  aggregated = goodness.aggregate_goodness(scales, (0.5, 0.3, 0.2))

  chex.assert_trees_all_close(aggregated, jnp.array([2.4, 3.4]), rtol=1e-6)


# h = (2, 0, 0, 2), K = 2: local = 8/4 = 2, pools (2, 0) and (0, 2) with
# means 1 and 1 so intermediate = 1, global = (4/4)^2 = 1.
_CONCENTRATED = jnp.array([[2.0, 0.0, 0.0, 2.0]])


@pytest.mark.parametrize(
    "changes, layer_index, for_prediction, expected",
    [
        # Single-scale: the local goodness, 2.
        pytest.param(dict(multiscale=False), 0, False, 2.0, id="baseline"),
        # First of two layers: 0.5 * 2 + 0.3 * 1 + 0.2 * 1 = 1.5.
        pytest.param({}, 0, False, 1.5, id="multiscale_first"),
        # Last of two layers: 0.2 * 2 + 0.3 * 1 + 0.5 * 1 = 1.2.
        pytest.param({}, 1, False, 1.2, id="multiscale_last"),
        # Per-example reading: prediction keeps the global term, 1.5.
        pytest.param({}, 0, True, 1.5, id="example_reading_prediction"),
        # Batch reading: global = batch mean of local = 2; training:
        # 0.5 * 2 + 0.3 * 1 + 0.2 * 2 = 1.7; prediction drops it: 1.3.
        pytest.param(
            dict(global_goodness="batch"), 0, False, 1.7, id="batch_training"
        ),
        pytest.param(
            dict(global_goodness="batch"), 0, True, 1.3, id="batch_prediction"
        ),
    ],
)
def test_layer_goodness(changes, layer_index, for_prediction, expected):
  config = Config(layer_sizes=(20, 4, 4), num_groups=2, **changes)

  value, scales = objective.layer_goodness(
      _CONCENTRATED,
      layer_index=layer_index,
      config=config,
      for_prediction=for_prediction,
  )

  chex.assert_trees_all_close(value, jnp.array([expected]), rtol=1e-6)
  assert (scales is None) == (not config.multiscale)
