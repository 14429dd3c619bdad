"""Tests of the data layer: IDX files, data sources, splits, standardisation.

Everything runs on small IDX files written into temporary folders, with the
sources (environment, cache, system folders, TFDS, download) faked; the tests
of the real MNIST and Fashion-MNIST run when the data is present.
"""

import gzip
import hashlib
import logging
import os
from pathlib import Path
import re
import sys
import types

import chex
import numpy as np
import pytest

from amsga_jax.data import KNOWN_DATASETS
from amsga_jax.data import DataError
from amsga_jax.data import Dataset
from amsga_jax.data import datasets
from amsga_jax.data import find_dataset_files
from amsga_jax.data import idx
from amsga_jax.data import load_dataset
from amsga_jax.data import read_idx
from amsga_jax.data import sources
from amsga_jax.data import write_idx

NUM_FAKE_TRAIN = 60
NUM_FAKE_TEST = 20
FAKE_MIRROR = "https://mirror.invalid/"


def fake_arrays(num_train=NUM_FAKE_TRAIN, num_test=NUM_FAKE_TEST, seed=0):
  """Random 28x28 uint8 images with labels 0..9, by standard file name."""
  rng = np.random.default_rng(seed)
  return {
      "train-images-idx3-ubyte": rng.integers(
          0, 256, (num_train, 28, 28), dtype=np.uint8
      ),
      "train-labels-idx1-ubyte": rng.integers(0, 10, num_train, dtype=np.uint8),
      "t10k-images-idx3-ubyte": rng.integers(
          0, 256, (num_test, 28, 28), dtype=np.uint8
      ),
      "t10k-labels-idx1-ubyte": rng.integers(0, 10, num_test, dtype=np.uint8),
  }


def write_fake_dataset(folder, *, gzipped=True):
  """Writes the four IDX files into `folder`; returns the arrays."""
  folder = Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  arrays = fake_arrays()
  suffix = ".gz" if gzipped else ""
  for base_name, array in arrays.items():
    write_idx(folder / f"{base_name}{suffix}", array)
  return arrays


def uncompressed_sums(arrays, tmp_path):
  """The SHA-256 of each array's plain IDX file, by standard file name."""
  sums = {}
  for base_name, array in arrays.items():
    path = tmp_path / f"sum-{base_name}"
    write_idx(path, array)
    sums[base_name] = hashlib.sha256(path.read_bytes()).hexdigest()
  return sums


def files_under(folder):
  return sorted(path for path in Path(folder).rglob("*") if path.is_file())


# IDX reading and writing.


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([3, 1, 4, 1, 5], dtype=np.uint8),
        np.array([[-7, 2**20], [0, 5]], dtype=np.int32),
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
    ],
    ids=["images", "labels", "int32", "float32"],
)
def test_write_then_read_gives_the_same_array(tmp_path, array, suffix):
  path = tmp_path / f"array-idx{suffix}"

  write_idx(path, array)
  read_back = read_idx(path)

  chex.assert_shape(read_back, array.shape)
  assert read_back.dtype == array.dtype
  np.testing.assert_array_equal(read_back, array)
  assert read_back.flags.writeable
  assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")


def test_images_file_has_the_standard_header(tmp_path):
  path = tmp_path / "images-idx3-ubyte"

  write_idx(path, np.zeros((5, 28, 28), np.uint8))

  content = path.read_bytes()
  assert content[:4] == bytes.fromhex("00000803")
  assert content[4:16] == bytes.fromhex("00000005 0000001c 0000001c")
  assert len(content) == 16 + 5 * 28 * 28


def test_write_rejects_an_element_type_without_idx_code(tmp_path):
  with pytest.raises(DataError, match="cannot write .* int64"):
    write_idx(tmp_path / "bad", np.zeros(3, np.int64))


def test_wrong_magic_number_is_reported(tmp_path):
  path = tmp_path / "train-images-idx3-ubyte"
  write_idx(path, np.zeros(4, np.uint8))

  with pytest.raises(
      DataError,
      match=re.escape(f"{path}: bad magic number 0x00000801, expected ")
      + "0x00000803",
  ):
    read_idx(path, expected_magic=idx.IMAGES_MAGIC)


def test_a_file_that_is_not_idx_is_reported(tmp_path):
  path = tmp_path / "notes.txt"
  path.write_bytes(b"hello, world")

  with pytest.raises(
      DataError, match=re.escape(f"{path}: bad magic number 0x68656C6C")
  ):
    read_idx(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_data_is_reported(tmp_path, suffix):
  plain = tmp_path / "full"
  write_idx(plain, np.ones((3, 28, 28), np.uint8))
  path = tmp_path / f"train-images-idx3-ubyte{suffix}"
  content = plain.read_bytes()[:-100]
  path.write_bytes(gzip.compress(content) if suffix else content)

  expected = 16 + 3 * 28 * 28
  with pytest.raises(
      DataError,
      match=re.escape(f"{path}: truncated file: expected {expected} bytes")
      + f".* got {expected - 100}",
  ):
    read_idx(path)


def test_truncated_header_is_reported(tmp_path):
  path = tmp_path / "train-images-idx3-ubyte"
  path.write_bytes(bytes.fromhex("00000803 0000ea60"))

  with pytest.raises(
      DataError,
      match=re.escape(f"{path}: truncated file: expected a 16-byte header"),
  ):
    read_idx(path)


def test_trailing_bytes_are_reported(tmp_path):
  path = tmp_path / "train-labels-idx1-ubyte"
  write_idx(path, np.arange(10, dtype=np.uint8))
  path.write_bytes(path.read_bytes() + b"\x00\x00\x00")

  with pytest.raises(
      DataError,
      match=re.escape(f"{path}: trailing bytes after the data: expected 18 ")
      + ".* got 21",
  ):
    read_idx(path)


def test_gz_file_that_is_not_gzip_is_reported(tmp_path):
  path = tmp_path / "train-images-idx3-ubyte.gz"
  write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((1, 2, 2), np.uint8))
  path.write_bytes((tmp_path / "train-images-idx3-ubyte").read_bytes())

  with pytest.raises(
      DataError, match=re.escape(f"{path}: not a valid gzip file")
  ):
    read_idx(path)


def test_cut_gzip_stream_is_reported(tmp_path):
  path = tmp_path / "train-images-idx3-ubyte.gz"
  write_idx(path, np.arange(5000, dtype=np.int32))
  path.write_bytes(path.read_bytes()[:-30])

  with pytest.raises(
      DataError, match=re.escape(f"{path}: not a valid gzip file")
  ):
    read_idx(path)


def test_missing_file_is_reported(tmp_path):
  path = tmp_path / "absent-idx1-ubyte"

  with pytest.raises(DataError, match=re.escape(f"{path}: cannot read")):
    read_idx(path)


def test_image_and_label_count_mismatch_is_reported(tmp_path):
  images_path = tmp_path / "train-images-idx3-ubyte"
  labels_path = tmp_path / "train-labels-idx1-ubyte"
  write_idx(images_path, np.zeros((5, 28, 28), np.uint8))
  write_idx(labels_path, np.zeros(4, np.uint8))

  with pytest.raises(
      DataError,
      match=re.escape(
          f"count mismatch between images and labels: {images_path} has 5 "
          f"images but {labels_path} has 4 labels"
      ),
  ):
    idx.read_images_and_labels(images_path, labels_path, num_classes=10)


def test_label_out_of_range_is_reported(tmp_path):
  images_path = tmp_path / "t10k-images-idx3-ubyte"
  labels_path = tmp_path / "t10k-labels-idx1-ubyte"
  write_idx(images_path, np.zeros((4, 28, 28), np.uint8))
  write_idx(labels_path, np.array([0, 9, 12, 3], np.uint8))

  with pytest.raises(
      DataError,
      match=re.escape(f"{labels_path}: label 12 out of range [0, 10) at "),
  ):
    idx.read_images_and_labels(images_path, labels_path, num_classes=10)


def test_wrong_image_size_is_reported(tmp_path):
  arrays = write_fake_dataset(tmp_path)
  path = tmp_path / "train-images-idx3-ubyte.gz"
  write_idx(path, arrays["train-images-idx3-ubyte"][:, :27, :])

  with pytest.raises(
      DataError,
      match=re.escape(f"{path}: images are 27x28, expected 28x28"),
  ):
    sources.load_raw("mnist", tmp_path, use_tfds=False)


def test_a_corrupt_file_stops_the_search(tmp_path):
  data_dir = tmp_path / "explicit"
  write_fake_dataset(data_dir)
  write_fake_dataset(tmp_path / "cache" / "mnist")
  corrupt = data_dir / "t10k-labels-idx1-ubyte.gz"
  corrupt.write_bytes(corrupt.read_bytes()[:-8])

  with pytest.raises(DataError, match=re.escape(str(corrupt))):
    sources.load_raw(
        "mnist",
        data_dir,
        environ={},
        cache_dir=tmp_path / "cache",
        system_dirs=[],
        use_tfds=False,
    )


# Where the data comes from.


def make_every_source(tmp_path, name="mnist"):
  """Fills an explicit folder, AMSGA_DATA_DIR, the cache and a system dir."""
  folder_name = sources.FOLDER_NAMES[name]
  roots = {
      "explicit": tmp_path / "explicit",
      "environment": tmp_path / "environment",
      "cache": tmp_path / "cache",
      "system": tmp_path / "system",
  }
  for root in roots.values():
    write_fake_dataset(root / folder_name)
  return roots


@pytest.mark.parametrize(
    "removed, expected_winner",
    [
        ((), "explicit"),
        (("explicit",), "environment"),
        (("explicit", "environment"), "cache"),
        (("explicit", "environment", "cache"), "system"),
    ],
)
def test_search_order(tmp_path, removed, expected_winner):
  roots = make_every_source(tmp_path)
  environ = {"AMSGA_DATA_DIR": str(roots["environment"])}
  for source in removed:
    for path in files_under(roots[source]):
      path.unlink()

  paths, description = find_dataset_files(
      "mnist",
      roots["explicit"],
      environ=environ,
      cache_dir=roots["cache"],
      system_dirs=[tmp_path / "elsewhere", roots["system"]],
  )

  expected_folder = roots[expected_winner] / "mnist"
  assert set(paths) == set(sources.FILE_NAMES)
  assert all(path.parent == expected_folder for path in paths.values())
  assert description.startswith(str(expected_folder))


def test_explicit_folder_may_hold_the_four_files_directly(tmp_path):
  write_fake_dataset(tmp_path / "my-data", gzipped=False)

  paths, description = find_dataset_files(
      "mnist", tmp_path / "my-data", environ={}, system_dirs=[]
  )

  assert paths["train_images"] == tmp_path / "my-data" / (
      "train-images-idx3-ubyte"
  )
  assert "data_dir argument" in description


def test_explicit_mnist_folder_is_not_taken_for_fashion_mnist(tmp_path):
  write_fake_dataset(tmp_path / "mnist")
  write_fake_dataset(tmp_path / "cache" / "fashion-mnist")

  paths, _ = find_dataset_files(
      "fashion_mnist",
      tmp_path / "mnist",
      environ={},
      cache_dir=tmp_path / "cache",
      system_dirs=[],
  )

  assert paths["test_labels"].parent == tmp_path / "cache" / "fashion-mnist"


@pytest.mark.parametrize("alias", ["fashion_mnist", "fashion-mnist", "FMNIST"])
def test_aliases_find_fashion_mnist(tmp_path, alias):
  write_fake_dataset(tmp_path / "fashion-mnist")

  paths, _ = find_dataset_files(alias, tmp_path, environ={}, system_dirs=[])

  assert paths["train_images"].parent == tmp_path / "fashion-mnist"


def test_default_cache_dir_follows_xdg():
  assert sources.default_cache_dir({"XDG_CACHE_HOME": "/xdg"}) == Path(
      "/xdg/amsga_jax"
  )
  assert sources.default_cache_dir(
      {"XDG_CACHE_HOME": "relative", "HOME": "/home/ada"}
  ) == Path("/home/ada/.cache/amsga_jax")


def test_default_cache_is_searched(tmp_path):
  write_fake_dataset(tmp_path / "xdg" / "amsga_jax" / "mnist")
  environ = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}

  _, description = find_dataset_files("mnist", environ=environ, system_dirs=[])

  assert description == f"{tmp_path}/xdg/amsga_jax/mnist (user cache)"


def test_no_data_message_lists_every_place_and_every_way(tmp_path):
  environ = {"AMSGA_DATA_DIR": str(tmp_path / "environment")}
  write_fake_dataset(tmp_path / "system" / "fashion-mnist")
  (tmp_path / "system" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").unlink()

  with pytest.raises(DataError) as error_info:
    find_dataset_files(
        "fashion_mnist",
        tmp_path / "explicit",
        environ=environ,
        cache_dir=tmp_path / "cache",
        system_dirs=[tmp_path / "system"],
    )

  message = str(error_info.value)
  for place in [
      tmp_path / "explicit",
      tmp_path / "explicit" / "fashion-mnist",
      tmp_path / "environment" / "fashion-mnist",
      tmp_path / "cache" / "fashion-mnist",
      tmp_path / "system" / "fashion-mnist",
  ]:
    assert f"{place}: " in message
  assert "missing t10k-images-idx3-ubyte[.gz]" in message
  assert "TensorFlow Datasets: not tried" in message
  for way in [
      "sudo apt install dataset-fashion-mnist",
      "download=True",
      "--download",
      "AMSGA_DATA_DIR",
      "data_dir=",
  ]:
    assert way in message


def test_load_raw_no_data_message_says_tfds_and_download(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)

  with pytest.raises(DataError) as error_info:
    sources.load_raw(
        "mnist", environ={}, cache_dir=tmp_path / "cache", system_dirs=[]
    )

  message = str(error_info.value)
  assert "data_dir argument: not set" in message
  assert "AMSGA_DATA_DIR: not set" in message
  assert f"user cache {tmp_path}/cache/mnist: no such folder" in message
  assert "TensorFlow Datasets: not installed" in message
  assert "download: not requested" in message
  assert "dataset-fashion-mnist" not in message


def test_a_fallback_is_warned_of_but_the_usual_layout_is_not(tmp_path, caplog):
  write_fake_dataset(tmp_path / "data" / "mnist")
  (tmp_path / "empty").mkdir()
  environ = {"AMSGA_DATA_DIR": str(tmp_path / "data")}

  with caplog.at_level(logging.WARNING):
    find_dataset_files("mnist", tmp_path / "data", environ={}, system_dirs=[])
  usual_layout_warnings = caplog.text
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    find_dataset_files(
        "mnist", tmp_path / "empty", environ=environ, system_dirs=[]
    )

  assert "No mnist data" not in usual_layout_warnings
  assert f"No mnist data in {tmp_path}/empty (data_dir argument" in (
      caplog.text
  )


def test_the_source_used_is_logged(tmp_path, caplog):
  write_fake_dataset(tmp_path / "mnist")

  with caplog.at_level(logging.INFO):
    raw = sources.load_raw("mnist", tmp_path, environ={}, system_dirs=[])

  assert f"Loading mnist from {tmp_path}/mnist (data_dir argument)" in (
      caplog.text
  )
  assert raw.source == f"{tmp_path}/mnist (data_dir argument)"


def test_load_raw_reads_the_four_files(tmp_path):
  arrays = write_fake_dataset(tmp_path / "mnist")

  raw = sources.load_raw("mnist", tmp_path, environ={}, system_dirs=[])

  np.testing.assert_array_equal(
      raw.train_images, arrays["train-images-idx3-ubyte"]
  )
  np.testing.assert_array_equal(
      raw.test_labels, arrays["t10k-labels-idx1-ubyte"]
  )
  chex.assert_type([raw.train_labels, raw.test_labels], np.int32)
  assert raw.train_images.dtype == np.uint8


def fake_tfds_module(arrays=None, error=None):
  """A stand-in for tensorflow_datasets with `load` and `as_numpy`."""
  module = types.ModuleType("tensorflow_datasets")

  def load(name, *, split, batch_size, as_supervised, download):
    assert (split, batch_size, as_supervised, download) == (
        ["train", "test"],
        -1,
        True,
        False,
    )
    if error is not None:
      raise error
    return [
        (
            arrays["train-images-idx3-ubyte"][..., None],
            arrays["train-labels-idx1-ubyte"].astype(np.int64),
        ),
        (
            arrays["t10k-images-idx3-ubyte"][..., None],
            arrays["t10k-labels-idx1-ubyte"].astype(np.int64),
        ),
    ]

  module.load = load
  module.as_numpy = lambda tree: tree
  return module


def test_tfds_is_used_when_it_already_holds_the_data(tmp_path, monkeypatch):
  arrays = fake_arrays()
  monkeypatch.setitem(
      sys.modules, "tensorflow_datasets", fake_tfds_module(arrays)
  )

  raw = sources.load_raw(
      "mnist", environ={}, cache_dir=tmp_path, system_dirs=[]
  )

  assert raw.source == "tensorflow_datasets"
  chex.assert_shape(raw.train_images, (NUM_FAKE_TRAIN, 28, 28))
  np.testing.assert_array_equal(
      raw.test_labels, arrays["t10k-labels-idx1-ubyte"]
  )


def test_tfds_without_the_data_is_reported(tmp_path, monkeypatch):
  error = AssertionError("Dataset mnist: could not find data in ~/tfds")
  monkeypatch.setitem(
      sys.modules, "tensorflow_datasets", fake_tfds_module(error=error)
  )

  with pytest.raises(
      DataError,
      match="TensorFlow Datasets: tried, no prepared data "
      r"\(AssertionError: Dataset mnist: could not find data",
  ):
    sources.load_raw("mnist", environ={}, cache_dir=tmp_path, system_dirs=[])


@pytest.mark.parametrize("name", ["cifar10", "", "mnist2"])
def test_unknown_dataset_lists_the_known_ones(name):
  with pytest.raises(
      DataError, match="known datasets: mnist, fashion_mnist, digits"
  ):
    load_dataset(name)


def test_digits_has_no_idx_files():
  with pytest.raises(DataError, match="digits comes from scikit-learn"):
    find_dataset_files("digits")


def test_known_datasets():
  assert KNOWN_DATASETS == ("mnist", "fashion_mnist", "digits")


# Download, with an injected fetch and no network.


class FakeServer:
  """Serves the bytes of files in a folder, as `fetch(url, file)`."""

  def __init__(self, folder, fail_after_bytes=None, failing_mirrors=()):
    self.folder = Path(folder)
    self.fail_after_bytes = fail_after_bytes
    self.failing_mirrors = failing_mirrors
    self.urls = []

  def __call__(self, url, destination):
    self.urls.append(url)
    if url.startswith(tuple(self.failing_mirrors)):
      raise ConnectionRefusedError(f"connection refused by {url}")

    content = (self.folder / url.rsplit("/", 1)[1]).read_bytes()
    if self.fail_after_bytes is None:
      destination.write(content)
      return
    destination.write(content[: self.fail_after_bytes])
    raise ConnectionResetError("connection reset by peer")


@pytest.fixture
def served(tmp_path):
  """Fake mirror files (gzipped) and their uncompressed SHA-256 sums."""
  arrays = write_fake_dataset(tmp_path / "server")
  return tmp_path / "server", uncompressed_sums(arrays, tmp_path), arrays


def test_download_fills_the_cache_with_checked_files(tmp_path, served):
  server_folder, sums, arrays = served
  fetch = FakeServer(server_folder)

  paths = sources.download_dataset(
      "mnist",
      tmp_path / "cache",
      fetch=fetch,
      sha256_sums=sums,
      mirrors=[FAKE_MIRROR],
  )

  assert fetch.urls == [
      f"{FAKE_MIRROR}{name}.gz" for name in sources.FILE_NAMES.values()
  ]
  assert files_under(tmp_path / "cache") == sorted(paths.values())
  found, _ = find_dataset_files(
      "mnist", environ={}, cache_dir=tmp_path / "cache", system_dirs=[]
  )
  assert found == paths
  np.testing.assert_array_equal(
      read_idx(paths["train_images"]), arrays["train-images-idx3-ubyte"]
  )


def test_download_checks_the_uncompressed_content(tmp_path, served):
  server_folder, sums, _ = served
  for path in server_folder.iterdir():
    recompressed = gzip.compress(gzip.decompress(path.read_bytes()), 1)
    path.write_bytes(recompressed)

  paths = sources.download_dataset(
      "mnist",
      tmp_path / "cache",
      fetch=FakeServer(server_folder),
      sha256_sums=sums,
      mirrors=[FAKE_MIRROR],
  )

  assert len(files_under(tmp_path / "cache")) == len(paths) == 4


def test_wrong_checksum_leaves_nothing_in_the_cache(tmp_path, served):
  server_folder, sums, _ = served
  sums = dict(sums, **{"train-images-idx3-ubyte": "0" * 64})

  with pytest.raises(
      DataError,
      match=re.escape(f"{FAKE_MIRROR}train-images-idx3-ubyte.gz: SHA-256")
      + f".* expected {'0' * 64}; the file was discarded",
  ):
    sources.download_dataset(
        "mnist",
        tmp_path / "cache",
        fetch=FakeServer(server_folder),
        sha256_sums=sums,
        mirrors=[FAKE_MIRROR],
    )

  assert files_under(tmp_path / "cache") == []


def test_interrupted_download_leaves_nothing_in_the_cache(tmp_path, served):
  server_folder, sums, _ = served

  with pytest.raises(
      DataError,
      match=r"download failed \(ConnectionResetError: connection reset by",
  ):
    sources.download_dataset(
        "mnist",
        tmp_path / "cache",
        fetch=FakeServer(server_folder, fail_after_bytes=1000),
        sha256_sums=sums,
        mirrors=[FAKE_MIRROR],
    )

  assert files_under(tmp_path / "cache") == []


def test_interrupted_download_by_the_user_leaves_nothing(tmp_path, served):
  server_folder, sums, _ = served

  def fetch(url, destination):
    destination.write(b"\x1f\x8b partial")
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    sources.download_dataset(
        "mnist", tmp_path / "cache", fetch=fetch, sha256_sums=sums
    )

  assert files_under(tmp_path / "cache") == []


def test_download_tries_the_next_mirror(tmp_path, served):
  server_folder, sums, _ = served
  fetch = FakeServer(server_folder, failing_mirrors=["https://down.invalid/"])

  paths = sources.download_dataset(
      "mnist",
      tmp_path / "cache",
      fetch=fetch,
      sha256_sums=sums,
      mirrors=["https://down.invalid/", FAKE_MIRROR],
  )

  assert len(paths) == 4
  assert len(fetch.urls) == 8


def test_download_keeps_good_cached_files_and_replaces_bad_ones(
    tmp_path, served
):
  server_folder, sums, arrays = served
  cache_folder = tmp_path / "cache" / "mnist"
  write_fake_dataset(cache_folder)
  bad_file = cache_folder / "t10k-labels-idx1-ubyte.gz"
  write_idx(bad_file, np.zeros(NUM_FAKE_TEST, np.uint8))
  fetch = FakeServer(server_folder)

  sources.download_dataset(
      "mnist",
      tmp_path / "cache",
      fetch=fetch,
      sha256_sums=sums,
      mirrors=[FAKE_MIRROR],
  )

  assert fetch.urls == [f"{FAKE_MIRROR}t10k-labels-idx1-ubyte.gz"]
  np.testing.assert_array_equal(
      read_idx(bad_file), arrays["t10k-labels-idx1-ubyte"]
  )


def test_load_raw_downloads_only_when_asked(tmp_path, served, monkeypatch):
  server_folder, sums, arrays = served
  monkeypatch.setitem(sources.SHA256_SUMS, "mnist", sums)
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
  fetch = FakeServer(server_folder)
  options = dict(
      environ={}, cache_dir=tmp_path / "cache", system_dirs=[], fetch=fetch
  )

  with pytest.raises(DataError, match="download: not requested"):
    sources.load_raw("mnist", **options)
  raw = sources.load_raw("mnist", download=True, **options)

  assert fetch.urls[0].startswith(sources.MIRRORS["mnist"][0])
  assert raw.source == f"{tmp_path}/cache/mnist (downloaded)"
  np.testing.assert_array_equal(
      raw.train_labels, arrays["train-labels-idx1-ubyte"]
  )
  assert sources.load_raw("mnist", **options).source.endswith("(user cache)")


def test_failed_download_is_in_the_no_data_message(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)

  def fetch(url, destination):
    raise OSError("Name or service not known")

  with pytest.raises(DataError) as error_info:
    sources.load_raw(
        "fashion_mnist",
        download=True,
        environ={},
        cache_dir=tmp_path / "cache",
        system_dirs=[],
        fetch=fetch,
    )

  message = str(error_info.value)
  assert "download: failed: could not download train-images-idx3-ubyte" in (
      message
  )
  for mirror in sources.MIRRORS["fashion_mnist"]:
    assert f"{mirror}train-images-idx3-ubyte.gz: download failed" in message
  assert files_under(tmp_path / "cache") == []


# Splits and standardisation.


@pytest.fixture(scope="module")
def digits():
  return load_dataset("digits")


def test_digits_shapes_and_types(digits):
  assert isinstance(digits, Dataset)
  assert digits.name == "digits"
  assert digits.input_dim == 64
  assert digits.num_classes == 10
  assert digits.source == "scikit-learn digits"
  chex.assert_shape(digits.train_images, (1200, 64))
  chex.assert_shape(digits.validation_images, (297, 64))
  chex.assert_shape(digits.test_images, (300, 64))
  chex.assert_shape(digits.train_labels, (1200,))
  chex.assert_shape(digits.validation_labels, (297,))
  chex.assert_shape(digits.test_labels, (300,))
  chex.assert_type(
      [digits.train_images, digits.validation_images, digits.test_images],
      np.float32,
  )
  chex.assert_type(
      [digits.train_labels, digits.validation_labels, digits.test_labels],
      np.int32,
  )
  assert set(np.unique(digits.train_labels)) == set(range(10))


def test_digits_standardisation(digits):
  train = digits.train_images.astype(np.float64)

  assert abs(train.mean()) < 1e-6
  assert train.std() == pytest.approx(1.0, abs=1e-6)
  assert digits.hot_value == float(digits.train_images.max())
  assert 0 < digits.mean < 1 and 0 < digits.std < 1
  raw_train = sources.load_digits_raw().train_images
  train_indices, _ = datasets.split_indices(1497, 297, 0)
  np.testing.assert_allclose(
      digits.train_images,
      (raw_train[train_indices].reshape(-1, 64) / 16 - digits.mean)
      / digits.std,
      rtol=1e-6,
      atol=1e-6,
  )


def test_digits_splits_are_disjoint():
  from sklearn.datasets import load_digits

  raw = sources.load_digits_raw()
  train_indices, validation_indices = datasets.split_indices(1497, 297, 0)

  assert not set(train_indices) & set(validation_indices)
  assert set(train_indices) | set(validation_indices) == set(range(1497))
  chex.assert_shape(raw.train_images, (1497, 8, 8))
  chex.assert_shape(raw.test_images, (300, 8, 8))
  parts = np.concatenate([raw.train_images, raw.test_images]).reshape(-1, 64)
  everything = load_digits().images.reshape(-1, 64).astype(np.uint8)
  np.testing.assert_array_equal(
      np.unique(parts, axis=0, return_counts=True)[1],
      np.unique(everything, axis=0, return_counts=True)[1],
  )


def test_digits_test_part_does_not_depend_on_the_split_seed():
  first = load_dataset("digits", split_seed=0)
  second = load_dataset("digits", split_seed=1)

  np.testing.assert_array_equal(first.test_labels, second.test_labels)
  assert not np.array_equal(first.train_labels, second.train_labels)


def test_split_seed_is_reproducible():
  first, _ = datasets.split_indices(100, 20, split_seed=3)
  again, _ = datasets.split_indices(100, 20, split_seed=3)
  other, _ = datasets.split_indices(100, 20, split_seed=4)

  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, other)
  np.testing.assert_array_equal(
      first, np.random.default_rng(3).permutation(100)[:80]
  )


def test_train_size_takes_a_prefix_and_keeps_the_rest(digits):
  small = load_dataset("digits", train_size=100)

  np.testing.assert_array_equal(small.train_images, digits.train_images[:100])
  np.testing.assert_array_equal(
      small.validation_images, digits.validation_images
  )
  np.testing.assert_array_equal(small.test_images, digits.test_images)
  assert (small.mean, small.std, small.hot_value) == (
      digits.mean,
      digits.std,
      digits.hot_value,
  )


def test_sizes_are_parameters():
  dataset = load_dataset("digits", validation_size=400, test_size=200)

  chex.assert_shape(dataset.train_images, (1197, 64))
  chex.assert_shape(dataset.validation_images, (400, 64))
  chex.assert_shape(dataset.test_images, (200, 64))


@pytest.mark.parametrize(
    "sizes, message",
    [
        (dict(validation_size=1497), "validation_size 1497 must be in"),
        (dict(validation_size=-1), "validation_size -1 must be in"),
        (dict(train_size=1201), "train_size 1201 must be in"),
    ],
)
def test_sizes_that_do_not_fit_are_rejected(sizes, message):
  with pytest.raises(ValueError, match=message):
    load_dataset("digits", **sizes)


def test_test_size_is_for_digits_only(tmp_path):
  with pytest.raises(DataError, match="test_size applies to digits only"):
    load_dataset("mnist", tmp_path, test_size=100)


def test_missing_scikit_learn_says_how_to_install_it(monkeypatch):
  monkeypatch.setitem(sys.modules, "sklearn", None)

  with pytest.raises(DataError, match="pip install scikit-learn"):
    load_dataset("digits")


def test_load_dataset_on_fake_mnist_files(tmp_path):
  arrays = write_fake_dataset(tmp_path / "mnist")

  dataset = load_dataset("mnist", tmp_path, validation_size=10, split_seed=5)

  train_indices, validation_indices = datasets.split_indices(60, 10, 5)
  raw_train = arrays["train-images-idx3-ubyte"].reshape(60, 784) / 255
  mean, std = raw_train[train_indices].mean(), raw_train[train_indices].std()
  assert dataset.mean == pytest.approx(mean, rel=1e-12)
  assert dataset.std == pytest.approx(std, rel=1e-12)
  np.testing.assert_allclose(
      dataset.validation_images,
      (raw_train[validation_indices] - mean) / std,
      rtol=1e-6,
  )
  np.testing.assert_array_equal(
      dataset.train_labels,
      arrays["train-labels-idx1-ubyte"][train_indices],
  )
  chex.assert_shape(dataset.test_images, (NUM_FAKE_TEST, 784))
  assert dataset.hot_value == float(dataset.train_images.max())
  assert dataset.input_dim == 784
  assert "train=50x784" in repr(dataset)


def test_dataset_is_frozen(digits):
  with pytest.raises(AttributeError):
    digits.hot_value = 1.0


# The real datasets, when present.


def real_data_root():
  """The folder holding mnist/ and fashion-mnist/, or None."""
  candidates = []
  if os.environ.get("AMSGA_DATA_DIR"):
    candidates.append(Path(os.environ["AMSGA_DATA_DIR"]))
  candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
  for candidate in candidates:
    if (candidate / "mnist").is_dir():
      return candidate
  return None


REAL_COUNTS = {
    "mnist": (
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    ),
    "fashion_mnist": ([6000] * 10, [1000] * 10),
}
REAL_MEANS = {"mnist": 0.1307, "fashion_mnist": 0.2860}


@pytest.fixture(scope="module", params=["mnist", "fashion_mnist"])
def real(request):
  root = real_data_root()
  if root is None:
    pytest.skip("no real data (set AMSGA_DATA_DIR)")
  if not (root / sources.FOLDER_NAMES[request.param]).is_dir():
    pytest.skip(f"no {request.param} under {root}")
  raw = sources.load_raw(request.param, root)
  dataset = load_dataset(request.param, root)
  return request.param, root, raw, dataset


def test_real_data_counts_and_mean(real):
  name, _, raw, _ = real
  train_counts, test_counts = REAL_COUNTS[name]

  chex.assert_shape(raw.train_images, (60_000, 28, 28))
  chex.assert_shape(raw.test_images, (10_000, 28, 28))
  assert np.bincount(raw.train_labels).tolist() == train_counts
  assert np.bincount(raw.test_labels).tolist() == test_counts
  mean = raw.train_images.mean(dtype=np.float64) / 255
  assert round(mean, 4) == REAL_MEANS[name]


def test_real_data_splits(real):
  name, _, raw, dataset = real
  train_indices, validation_indices = datasets.split_indices(60_000, 10_000)

  assert not set(train_indices) & set(validation_indices)
  assert set(train_indices) | set(validation_indices) == set(range(60_000))
  chex.assert_shape(dataset.train_images, (50_000, 784))
  chex.assert_shape(dataset.validation_images, (10_000, 784))
  chex.assert_shape(dataset.test_images, (10_000, 784))
  np.testing.assert_array_equal(
      dataset.validation_labels, raw.train_labels[validation_indices]
  )
  rows = [0, 12_345, 49_999]
  np.testing.assert_allclose(
      dataset.train_images[rows],
      (
          raw.train_images[train_indices[rows]].reshape(3, 784) / 255
          - dataset.mean
      )
      / dataset.std,
      rtol=1e-5,
      atol=1e-5,
  )
  assert dataset.hot_value == float(dataset.train_images.max())
  assert dataset.hot_value == pytest.approx((1 - dataset.mean) / dataset.std)
  assert abs(float(dataset.train_images.mean(dtype=np.float64))) < 1e-5
  assert name in dataset.source or sources.FOLDER_NAMES[name] in dataset.source


def test_real_files_match_the_known_sums(real):
  name, root, _, _ = real
  paths, _ = find_dataset_files(name, root, environ={}, system_dirs=[])

  for path in paths.values():
    base_name = path.name.removesuffix(".gz")
    digest = sources.content_sha256(path.read_bytes(), path)
    assert digest == sources.SHA256_SUMS[name][base_name], path


def test_constant_training_pixels_are_reported():
  raw = sources.RawData(
      np.zeros((10, 28, 28), np.uint8),
      np.zeros(10, np.int32),
      np.zeros((2, 28, 28), np.uint8),
      np.zeros(2, np.int32),
      source="blank",
  )

  with pytest.raises(DataError, match="blank: every training pixel of mnist"):
    datasets.prepare_dataset(raw, name="MNIST", validation_size=2)
