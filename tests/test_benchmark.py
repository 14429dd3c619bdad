"""Tests of the speed benchmark, `experiments/benchmark.py`.

One end-to-end run on a tiny configuration (64-32-32, 512 synthetic
examples) through the command line's flags, shared by the tests that read
its JSON; its scaling lists repeat the main setting, so the run compiles
only the AMSGA and baseline chunks of its two layers. The sweeps' logic is
tested separately with a fake timer that compiles nothing.
"""

import json

from absl import flags
import pytest

from amsga_jax import Config
from experiments import benchmark
from experiments import presets

TINY_LAYERS = (64, 32, 32)
TINY_EXAMPLES = 512
LAYER_KEYS = (
    "seconds_per_epoch",
    "gflops_per_second",
    "fraction_of_matmul_peak",
    "flops_per_epoch",
    "peak_bytes",
    "required_bytes",
)
TOP_LEVEL_KEYS = (
    "matmul_gflops_per_second",
    "square_matmul_gflops_per_second",
    "environment",
    "config",
    "layers",
    "batch_scaling",
    "width_scaling",
    "seed_scaling",
    "amsga_overhead",
    "frozen_outputs",
)
ENVIRONMENT_KEYS = ("jax_version", "backend", "device_kind", "cpu_count")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  """(returned results, the JSON written by --output, the printed report)."""
  output = tmp_path_factory.mktemp("benchmark") / "results.json"
  flag_values = flags.FlagValues()
  benchmark.define_flags(flag_values)
  flag_values(
      [
          "benchmark",
          f"--layers={','.join(str(width) for width in TINY_LAYERS)}",
          f"--train_size={TINY_EXAMPLES}",
          "--repeats=1",
          "--chunk_epochs=1",
          f"--batch_sizes={TINY_EXAMPLES}",
          f"--widths={TINY_LAYERS[1]}",
          "--seed_counts=1",
          "--square_size=128",
          f"--output={output}",
      ]
  )

  returned = benchmark.benchmark_from_flags(flag_values)

  with open(output) as f:
    written = json.load(f)
  return returned, written, benchmark.format_report(written)


def test_json_has_every_key(tiny_run):
  _, written, _ = tiny_run
  for key in TOP_LEVEL_KEYS:
    assert key in written, key
  for key in ENVIRONMENT_KEYS:
    assert key in written["environment"], key
  assert len(written["layers"]) == len(TINY_LAYERS) - 1
  for record in written["layers"]:
    for key in LAYER_KEYS:
      assert key in record, key
  assert Config.from_dict(written["config"]).layer_sizes == TINY_LAYERS


def test_json_is_what_run_benchmark_returned(tiny_run):
  returned, written, _ = tiny_run
  assert json.loads(json.dumps(returned)) == written


def test_times_rates_and_memory_are_positive(tiny_run):
  _, written, _ = tiny_run
  assert written["matmul_gflops_per_second"] > 0
  assert (
      written["matmul_gflops_per_second"]
      >= written["square_matmul_gflops_per_second"]
  )
  for record in written["layers"]:
    assert record["seconds_per_epoch"] > 0
    assert record["gflops_per_second"] > 0
    assert record["fraction_of_matmul_peak"] > 0
    assert record["peak_bytes"] > 0
    assert record["required_bytes"] > 0
  for record in written["amsga_overhead"]:
    assert record["amsga_seconds_per_epoch"] > 0
    assert record["baseline_seconds_per_epoch"] > 0


def test_frozen_outputs_are_timed_cached_and_recomputed(tiny_run):
  _, written, _ = tiny_run
  # One later layer in 64-32-32; its tiny cache fits, so "auto" caches.
  (record,) = written["frozen_outputs"]
  assert record["layer"] == 1
  assert record["cache_seconds_per_epoch"] > 0
  assert record["recompute_seconds_per_epoch"] > 0
  assert record["cache_peak_bytes"] > record["recompute_peak_bytes"] > 0
  assert record["faster"] in ("cache", "recompute")
  assert record["auto_uses"] == "cache"


def test_flops_are_the_plain_count(tiny_run):
  _, written, _ = tiny_run
  for index, record in enumerate(written["layers"]):
    input_width, width = TINY_LAYERS[index], TINY_LAYERS[index + 1]
    assert record["shape"] == [TINY_EXAMPLES, input_width, width]
    assert record["flops_per_epoch"] == (
        8 * TINY_EXAMPLES * input_width * width
    )


def test_sweeps_that_repeat_the_main_setting_reuse_its_measurements(tiny_run):
  _, written, _ = tiny_run
  main_seconds = [record["seconds_per_epoch"] for record in written["layers"]]
  for key in ("batch_scaling", "width_scaling", "seed_scaling"):
    (record,) = written[key]
    assert record["seconds_per_epoch"] == main_seconds
    assert record["time_ratio"] == 1.0
  assert [r["amsga_seconds_per_epoch"] for r in written["amsga_overhead"]] == (
      main_seconds
  )


def test_report_is_markdown_with_every_section(tiny_run):
  _, _, report = tiny_run
  for heading in (
      "### Matmul rate",
      "### Epoch per layer",
      "### AMSGA against the baseline",
      "### Frozen layers' outputs: cached or recomputed",
      "### Scaling with examples (full batch)",
      "### Scaling with hidden width",
      "### Scaling with seeds",
  ):
    assert heading in report
  assert "| 1 | [512, 32] @ [32, 32] |" in report


def _fake_measure(calls):
  """A `LayerTimer._measure_interleaved` taking a second per plain GFLOP."""

  def measure_one(config, layer_index, num_examples):
    calls.append((config, layer_index, num_examples))
    flops = benchmark.epoch_flops(config, layer_index, num_examples)
    input_width, width = config.layer_sizes[layer_index : layer_index + 2]
    return benchmark.LayerMeasurement(
        layer_index=layer_index,
        num_examples=num_examples,
        rows_per_step=benchmark.rows_per_step(config, num_examples),
        examples_per_epoch=num_examples,
        input_width=input_width,
        width=width,
        num_seeds=config.num_seeds,
        seconds_per_epoch=flops / 1e9,
        call_seconds_per_epoch=(flops / 1e9,),
        compile_seconds=0.0,
        flops_per_epoch=flops,
        argument_bytes=3,
        output_bytes=2,
        alias_bytes=1,
        temp_bytes=5,
        required={"inputs": 4, "params": 1},
    )

  def measure_interleaved(self, configs, layer_index, num_examples):
    del self
    return [
        measure_one(config, layer_index, num_examples) for config in configs
    ]

  return measure_interleaved


def _fake_matmul_rate(rows, inner, columns, *, repeats):
  del rows, inner, columns, repeats
  return 100.0


def test_sweeps_measure_the_settings_asked_for(monkeypatch):
  calls = []
  monkeypatch.setattr(
      benchmark.LayerTimer, "_measure_interleaved", _fake_measure(calls)
  )
  monkeypatch.setattr(benchmark, "matmul_rate", _fake_matmul_rate)
  config = presets.get_preset("amsga_mnist").replace(layer_sizes=(20, 8, 4))

  results = benchmark.run_benchmark(
      config.replace(train_size=100),
      repeats=1,
      batch_sizes=(50, 200),
      widths=(4, 16),
      seed_counts=(3,),
      square_size=16,
  )

  batch = results["batch_scaling"]
  assert [r["num_examples"] for r in batch] == [50, 200]
  assert [r["flop_ratio"] for r in batch] == [1.0, 4.0]
  assert batch[1]["time_ratio"] == pytest.approx(4.0)
  width = results["width_scaling"]
  assert [r["layer_sizes"] for r in width] == [[20, 4, 4], [20, 16, 16]]
  seeds = results["seed_scaling"]
  assert [r["num_seeds"] for r in seeds] == [1, 3]
  assert seeds[1]["time_ratio_per_seed"] == pytest.approx(1.0)
  assert results["layers"][0]["peak_bytes"] == 10
  assert results["layers"][0]["required_bytes"] == 5
  assert results["layers"][0]["gflops_per_second"] == pytest.approx(1.0)
  assert results["layers"][0]["fraction_of_matmul_peak"] == pytest.approx(0.01)
  # Per layer: the main (AMSGA) configuration, its baseline, two batch
  # sizes, two widths and three seeds; one seed is the main configuration.
  # The later layer also with its frozen inputs cached and recomputed.
  assert len(calls) == len(set(calls)) == 2 * 7 + 2
  (frozen,) = results["frozen_outputs"]
  assert frozen["layer"] == 1 and frozen["auto_uses"] == "cache"


def test_skip_scaling_leaves_the_sweeps_empty(monkeypatch):
  monkeypatch.setattr(
      benchmark.LayerTimer, "_measure_interleaved", _fake_measure([])
  )
  monkeypatch.setattr(benchmark, "matmul_rate", _fake_matmul_rate)
  config = presets.get_preset("baseline_mnist").replace(
      layer_sizes=(20, 8), train_size=64
  )

  results = benchmark.run_benchmark(
      config, repeats=1, square_size=16, skip_scaling=True
  )

  for key in ("batch_scaling", "width_scaling", "seed_scaling"):
    assert results[key] == []
  (overhead,) = results["amsga_overhead"]
  assert overhead["extra_percent_of_baseline_epoch"] == pytest.approx(0.0)


def test_mini_batch_flops_count_the_examples_an_epoch_trains_on():
  config = Config(layer_sizes=(784, 600, 500), batch_size=300, num_seeds=2)

  # 1000 examples make 3 batches of 300; 100 sit the epoch out.
  assert benchmark.epoch_flops(config, 1, 1000) == 8 * 2 * 900 * 600 * 500
  assert benchmark.rows_per_step(config, 1000) == 300
  assert benchmark.rows_per_step(config.replace(batch_size=0), 1000) == 1000


def test_chunk_starts_stay_within_the_run():
  long_run = [benchmark._chunk_start(call, 2, 1500) for call in range(3)]
  short_run = [benchmark._chunk_start(call, 2, 4) for call in range(4)]

  assert long_run == [0, 2, 4]
  assert short_run == [0, 2, 1, 0]  # Chunks [e, e + 2) within 4 epochs.


def test_refuses_the_simultaneous_schedule():
  config = Config(layer_sizes=(20, 8), schedule="simultaneous")
  with pytest.raises(ValueError, match="layer-wise"):
    benchmark.run_benchmark(config, square_size=16)


def test_flags_override_the_preset():
  flag_values = flags.FlagValues()
  benchmark.define_flags(flag_values)
  flag_values(
      [
          "benchmark",
          "--layers=784,500",
          "--batch_size=1000",
          "--seeds=3",
          "--precision=bfloat16",
      ]
  )

  config = benchmark.config_from_flags(flag_values)

  assert config == presets.amsga_mnist().replace(
      layer_sizes=(784, 500),
      batch_size=1000,
      num_seeds=3,
      matmul_precision="bfloat16",
  )


def test_dataset_data_is_the_training_split():
  pytest.importorskip("sklearn")
  config = Config(dataset="digits", layer_sizes=(64, 16), train_size=100)

  data = benchmark.load_training_data("digits", config)

  assert data.images.shape == (100, 64)
  assert data.labels.shape == (100,)
  assert data.source == "digits"
  assert data.hot_value > 0
