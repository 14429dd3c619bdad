"""Strict numerics for every test: rank promotion raises, x64 stays off."""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
