"""Curriculum negative selection (eqs. 7-10): stages, band, sampling, top-up."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amsga_jax import Config
from amsga_jax import curriculum
from amsga_jax import objective

# A band of constant half-width 0.5 at every stage, so that stages differ
# only in their very-hard rates: with theta = 2 the band is [1, 3] and a
# candidate is very hard above 3.
_FIXED_BAND = (0.5, 0.5, 0.5, 0.5)


def _select(goodness, *, threshold=2.0, progress=0.0, seed=0, **options):
  """`select_negatives` on a list of goodness values, as numpy masks.

  Args:
    goodness: the candidates' goodness, a list of floats.
    threshold: `theta`.
    progress: `p`.
    seed: seed of the very-hard sampling's key.
    **options: keyword options of `select_negatives`.

  Returns:
    The `Selection` with numpy arrays.
  """
  selection = curriculum.select_negatives(
      jax.random.PRNGKey(seed),
      jnp.asarray(goodness, jnp.float32),
      jnp.float32(threshold),
      jnp.float32(progress),
      **options,
  )
  return jax.tree.map(np.asarray, selection)


@pytest.mark.parametrize(
    "progress, expected",
    [
        # Early: 0.2 + (0.4 - 0.2) p / 0.3.
        pytest.param(0.0, 0.2, id="start"),
        pytest.param(0.15, 0.3, id="early_middle"),
        pytest.param(0.29, 0.2 + 0.2 * 0.29 / 0.3, id="early_end"),
        # Middle: 0.4 + (0.6 - 0.4) (p - 0.3) / 0.4.
        pytest.param(0.3, 0.4, id="middle_start"),
        pytest.param(0.5, 0.5, id="middle_middle"),
        pytest.param(0.69, 0.4 + 0.2 * 0.39 / 0.4, id="middle_end"),
        # Late: 0.8.
        pytest.param(0.7, 0.8, id="late_start"),
        pytest.param(0.95, 0.8, id="late"),
        pytest.param(1.0, 0.8, id="end"),
    ],
)
def test_band_half_width_defaults(progress, expected):
  omega = curriculum.band_half_width(jnp.float32(progress))

  chex.assert_trees_all_close(omega, jnp.float32(expected), atol=1e-6)


def test_band_half_width_custom_stages():
  # p1 = 0.5, p2 = 0.75, widths (0.1, 0.3, 0.5, 0.9):
  #   p = 0.25: 0.1 + 0.2 * 0.25 / 0.5 = 0.2
  #   p = 0.625: 0.3 + 0.2 * 0.125 / 0.25 = 0.4
  #   p = 0.75: 0.9
  options = dict(stage_boundaries=(0.5, 0.75), band_widths=(0.1, 0.3, 0.5, 0.9))

  omegas = [
      curriculum.band_half_width(jnp.float32(p), **options)
      for p in (0.25, 0.625, 0.75)
  ]

  chex.assert_trees_all_close(omegas, [0.2, 0.4, 0.9], atol=1e-6)


@pytest.mark.parametrize(
    "progress, expected",
    [
        pytest.param(0.0, 0.0, id="early_start"),
        pytest.param(0.29, 0.0, id="early_end"),
        pytest.param(0.3, 0.1, id="middle_start"),
        pytest.param(0.69, 0.1, id="middle_end"),
        pytest.param(0.7, 0.3, id="late_start"),
        pytest.param(1.0, 0.3, id="end"),
    ],
)
def test_very_hard_rate_by_stage(progress, expected):
  rate = curriculum.very_hard_rate(jnp.float32(progress))

  chex.assert_trees_all_close(rate, jnp.float32(expected), atol=1e-7)


def test_band_membership_at_the_band_edges():
  # theta = 2, omega = 0.5: the band is |G - 2| <= 1, i.e. [1, 3], edges
  # included; very hard is G > 3. Early stage: no very hard kept.
  goodness = [0.99, 1.0, 2.0, 3.0, 3.01, 5.0]

  selection = _select(
      goodness, band_widths=_FIXED_BAND, min_selected_fraction=0.0
  )

  np.testing.assert_array_equal(selection.band, [0, 1, 1, 1, 0, 0])
  np.testing.assert_array_equal(selection.very_hard, np.zeros(6))
  np.testing.assert_array_equal(selection.top_up, np.zeros(6))
  np.testing.assert_array_equal(selection.mask, [0, 1, 1, 1, 0, 0])


def test_band_uses_the_stage_half_width():
  # Late stage, defaults: omega = 0.8, theta = 5 -> band [1, 9].
  # Early stage at p = 0: omega = 0.2 -> band [4, 6].
  goodness = [0.9, 1.0, 3.9, 4.0, 6.0, 6.1, 9.0, 9.1]

  late = _select(
      goodness,
      threshold=5.0,
      progress=0.8,
      very_hard_rate_late=0.0,
      min_selected_fraction=0.0,
  )
  early = _select(
      goodness, threshold=5.0, progress=0.0, min_selected_fraction=0.0
  )

  np.testing.assert_array_equal(late.band, [0, 1, 1, 1, 1, 1, 1, 0])
  np.testing.assert_array_equal(early.band, [0, 0, 0, 1, 1, 0, 0, 0])


@pytest.mark.parametrize(
    "progress, rate_middle, rate_late, kept",
    [
        pytest.param(0.1, 1.0, 1.0, False, id="early_never"),
        pytest.param(0.5, 1.0, 0.0, True, id="middle_rate_1"),
        pytest.param(0.5, 0.0, 1.0, False, id="middle_rate_0"),
        pytest.param(0.8, 0.0, 1.0, True, id="late_rate_1"),
        pytest.param(0.8, 1.0, 0.0, False, id="late_rate_0"),
    ],
)
def test_very_hard_candidates_kept_by_stage_and_rate(
    progress, rate_middle, rate_late, kept
):
  # Band [1, 3]; 3.5, 4 and 10 are very hard, 0.5 is rejected, 2 in band.
  goodness = [0.5, 2.0, 3.5, 4.0, 10.0]

  selection = _select(
      goodness,
      progress=progress,
      band_widths=_FIXED_BAND,
      very_hard_rate_middle=rate_middle,
      very_hard_rate_late=rate_late,
      min_selected_fraction=0.0,
  )

  very_hard = [0, 0, 1, 1, 1] if kept else [0] * 5
  np.testing.assert_array_equal(selection.very_hard, very_hard)
  np.testing.assert_array_equal(selection.band, [0, 1, 0, 0, 0])
  np.testing.assert_array_equal(
      selection.mask, np.maximum(selection.band, very_hard)
  )


@pytest.mark.parametrize(
    "progress, rate",
    [
        pytest.param(0.5, 0.1, id="middle_r_mid"),
        pytest.param(0.8, 0.3, id="late_r_late"),
    ],
)
def test_very_hard_sampling_keeps_about_the_rate(progress, rate):
  # 20 000 very hard candidates (G = 10 > theta (1 + 0.8) = 3.6): the kept
  # fraction is binomial, standard deviation <= sqrt(0.21 / 20000) < 0.0033;
  # a tolerance of 0.015 is over four of them.
  goodness = [10.0] * 20_000

  selection = _select(goodness, progress=progress, min_selected_fraction=0.0)

  assert selection.band.sum() == 0
  assert abs(selection.very_hard.mean() - rate) < 0.015
  np.testing.assert_array_equal(selection.mask, selection.very_hard)


def test_very_hard_sampling_depends_on_the_key_only():
  goodness = [10.0] * 200

  first = _select(goodness, progress=0.8, seed=1, min_selected_fraction=0.0)
  again = _select(goodness, progress=0.8, seed=1, min_selected_fraction=0.0)
  other = _select(goodness, progress=0.8, seed=2, min_selected_fraction=0.0)

  np.testing.assert_array_equal(first.mask, again.mask)
  assert not np.array_equal(first.mask, other.mask)


def test_top_up_takes_the_hardest_when_the_band_is_empty():
  # theta = 10, early: band [8, 12] holds none. ceil(0.3 * 10) = 3, so the
  # three largest are added: 0.9 (index 3), 0.8 (index 5), 0.7 (index 7).
  goodness = [0.1, 0.5, 0.2, 0.9, 0.3, 0.8, 0.05, 0.7, 0.4, 0.6]

  selection = _select(goodness, threshold=10.0, min_selected_fraction=0.3)

  expected = np.zeros(10)
  expected[[3, 5, 7]] = 1
  np.testing.assert_array_equal(selection.band, np.zeros(10))
  np.testing.assert_array_equal(selection.top_up, expected)
  np.testing.assert_array_equal(selection.mask, expected)


def test_top_up_fills_the_deficit_with_the_hardest_unselected():
  # Band [1, 3] holds index 0 (1.5) only; ceil(0.5 * 8) = 4, so the deficit
  # is 3: the hardest unselected are 0.9 (2), 0.8 (3) and 0.5 (7).
  goodness = [1.5, 0.1, 0.9, 0.8, 0.2, 0.3, 0.4, 0.5]

  selection = _select(
      goodness, band_widths=_FIXED_BAND, min_selected_fraction=0.5
  )

  np.testing.assert_array_equal(selection.band, [1, 0, 0, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(selection.top_up, [0, 0, 1, 1, 0, 0, 0, 1])
  assert selection.mask.sum() == 4


def test_top_up_counts_very_hard_candidates_already_kept():
  # Late stage, rate 1: the very hard 4.0 and 10.0 are kept; with the band's
  # 2.0 that is 3 selected of ceil(0.5 * 8) = 4, so one more is added, the
  # hardest unselected: 0.9.
  goodness = [2.0, 4.0, 10.0, 0.9, 0.1, 0.2, 0.3, 0.4]

  selection = _select(
      goodness,
      progress=0.8,
      band_widths=_FIXED_BAND,
      very_hard_rate_late=1.0,
      min_selected_fraction=0.5,
  )

  np.testing.assert_array_equal(selection.very_hard, [0, 1, 1, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(selection.top_up, [0, 0, 0, 1, 0, 0, 0, 0])
  np.testing.assert_array_equal(selection.mask, [1, 1, 1, 1, 0, 0, 0, 0])


def test_no_top_up_when_enough_are_selected():
  # Band [1, 3] holds 4 of 8 >= ceil(0.25 * 8) = 2: nothing is added.
  goodness = [1.0, 1.5, 2.5, 3.0, 0.1, 0.2, 0.3, 0.9]

  selection = _select(
      goodness, band_widths=_FIXED_BAND, min_selected_fraction=0.25
  )

  np.testing.assert_array_equal(selection.top_up, np.zeros(8))
  np.testing.assert_array_equal(selection.mask, selection.band)


def test_full_minimum_selects_everything():
  goodness = [0.1, 2.0, 7.0, 0.4, 0.3]

  selection = _select(
      goodness, band_widths=_FIXED_BAND, min_selected_fraction=1.0
  )

  np.testing.assert_array_equal(selection.mask, np.ones(5))


@pytest.mark.parametrize("progress", [0.0, 0.2, 0.4, 0.6, 0.75, 1.0])
@pytest.mark.parametrize("min_fraction", [0.0, 0.25, 0.6])
def test_parts_are_disjoint_and_the_minimum_is_exact(progress, min_fraction):
  # 500 candidates spread over [0, 3 theta], rates high enough that every
  # part is exercised somewhere in the grid.
  threshold = 2.0
  goodness = jax.random.uniform(jax.random.PRNGKey(3), (500,)) * 3 * threshold
  min_count = math.ceil(min_fraction * 500)

  selection = _select(
      np.asarray(goodness),
      threshold=threshold,
      progress=progress,
      very_hard_rate_middle=0.5,
      very_hard_rate_late=0.5,
      min_selected_fraction=min_fraction,
  )

  parts = (selection.band, selection.very_hard, selection.top_up)
  for part in (selection.mask, *parts):
    assert set(np.unique(part)) <= {0.0, 1.0}
  assert np.all(selection.band * selection.very_hard == 0)
  assert np.all(selection.band * selection.top_up == 0)
  assert np.all(selection.very_hard * selection.top_up == 0)
  np.testing.assert_array_equal(selection.mask, sum(parts))
  chosen = selection.band.sum() + selection.very_hard.sum()
  assert selection.mask.sum() == max(chosen, min_count)


def test_no_gradient_flows_through_the_mask():
  goodness = jnp.array([0.5, 1.5, 2.0, 2.5, 4.0, 9.0, 0.1, 3.2])

  def mask_total(g):
    selection = curriculum.select_negatives(
        jax.random.PRNGKey(0),
        g,
        jnp.float32(2.0),
        jnp.float32(0.8),
        min_selected_fraction=0.75,
    )
    return jnp.sum(selection.mask * jnp.arange(8.0))

  gradient = jax.grad(mask_total)(goodness)

  chex.assert_trees_all_equal(gradient, jnp.zeros(8))


def test_masked_loss_gradient_holds_the_mask_constant():
  # With the curriculum on, the negative half is
  # sum_b m_b softplus(G-_b - theta) / sum_b m_b with m a constant: its
  # gradient w.r.t. the negative activations is the hand formula's.
  config = Config(
      layer_sizes=(20, 6), multiscale=False, min_selected_fraction=0.5
  )
  positive = jax.nn.relu(jax.random.normal(jax.random.PRNGKey(1), (8, 6)))
  negative = 2 * jax.nn.relu(jax.random.normal(jax.random.PRNGKey(2), (8, 6)))
  key = jax.random.PRNGKey(4)
  threshold, progress = jnp.float32(2.0), jnp.float32(0.8)
  mask = curriculum.select_negatives(
      key,
      jnp.mean(jnp.square(negative), axis=-1),
      threshold,
      progress,
      min_selected_fraction=0.5,
  ).mask

  def library_loss(negative):
    loss, _ = objective.layer_loss(
        positive,
        negative,
        threshold=threshold,
        progress=progress,
        selection_key=key,
        layer_index=0,
        config=config,
    )
    return loss

  def hand_loss(negative):
    positive_goodness = jnp.mean(jnp.square(positive), axis=-1)
    negative_goodness = jnp.mean(jnp.square(negative), axis=-1)
    positive_half = jnp.mean(jax.nn.softplus(threshold - positive_goodness))
    terms = jax.nn.softplus(negative_goodness - threshold)
    return 0.5 * (positive_half + jnp.sum(mask * terms) / jnp.sum(mask))

  chex.assert_trees_all_close(
      library_loss(negative), hand_loss(negative), rtol=1e-6
  )
  chex.assert_trees_all_close(
      jax.grad(library_loss)(negative),
      jax.grad(hand_loss)(negative),
      rtol=1e-5,
      atol=1e-7,
  )
  assert 0 < mask.sum() < 8
