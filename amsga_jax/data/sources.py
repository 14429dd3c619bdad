"""Where the datasets come from: local folders, TFDS, scikit-learn, download.

MNIST and Fashion-MNIST are read from the four standard IDX files
(`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
`t10k-labels-idx1-ubyte`, each plain or gzipped), looked for in this order:

1. the explicit `data_dir` argument: a folder holding the four files, or one
   holding `mnist/` and `fashion-mnist/` subfolders;
2. the folder named by the `AMSGA_DATA_DIR` environment variable, holding
   `mnist/` and `fashion-mnist/`;
3. the per-user cache, `$XDG_CACHE_HOME/amsga_jax` or `~/.cache/amsga_jax`,
   with the same subfolders;
4. the folders system packages install (`SYSTEM_DATA_DIRS`, with the same
   subfolders: Debian and Ubuntu's `dataset-fashion-mnist` installs
   `/usr/share/datasets/fashion-mnist`);
5. TensorFlow Datasets, when it is installed and already holds the data (it is
   never asked to download);
6. only when the caller passes `download=True`, the datasets' public mirrors,
   into the cache, each file checked against its known SHA-256 sum before it
   is moved into place.

When nothing is found, one `DataError` lists every place looked at and the
ways to get the data. `digits` is scikit-learn's small 8x8 digits set, read
from scikit-learn and needing no files.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
import dataclasses
import gzip
import hashlib
import os
from pathlib import Path
import shutil
import tempfile
from typing import BinaryIO
from typing import NamedTuple
import urllib.request
import zlib

from absl import logging
import numpy as np

from amsga_jax.data import idx

DataError = idx.DataError

KNOWN_DATASETS = ("mnist", "fashion_mnist", "digits")
DATASET_ALIASES = {"fashion-mnist": "fashion_mnist", "fmnist": "fashion_mnist"}
NUM_CLASSES = 10

# The largest raw pixel value of each dataset; pixels / PIXEL_MAX is in [0, 1].
PIXEL_MAX = {"mnist": 255, "fashion_mnist": 255, "digits": 16}

ENV_VAR = "AMSGA_DATA_DIR"
CACHE_FOLDER_NAME = "amsga_jax"
SYSTEM_DATA_DIRS = ("/usr/share/datasets", "/usr/local/share/datasets")

# Folder of each IDX dataset under AMSGA_DATA_DIR, the cache and system dirs.
FOLDER_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}

# Role of each file -> its standard name (without `.gz`).
FILE_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the UNCOMPRESSED content, whatever gzip settings made the files.
SHA256_SUMS = {
    "mnist": {
        "train-images-idx3-ubyte": (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
        ),
        "train-labels-idx1-ubyte": (
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
        ),
        "t10k-images-idx3-ubyte": (
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
        ),
        "t10k-labels-idx1-ubyte": (
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
        ),
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        ),
        "train-labels-idx1-ubyte": (
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        ),
        "t10k-images-idx3-ubyte": (
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
        ),
        "t10k-labels-idx1-ubyte": (
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
        ),
    },
}

# Public mirrors serving `<name>.gz`, tried in order; the sums guard content.
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
}

TFDS_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion_mnist"}
SYSTEM_PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}

IMAGE_SHAPE = (28, 28)
DIGITS_TEST_SIZE = 300
DIGITS_TEST_SEED = 0
DIGITS_SOURCE = "scikit-learn digits"
TFDS_SOURCE = "tensorflow_datasets"

Fetch = Callable[[str, BinaryIO], None]

_GZIP_MAGIC = b"\x1f\x8b"
_DATA_DIR_REASON = "data_dir argument"


class RawData(NamedTuple):
  """A dataset as stored: the official train and test parts, unprocessed.

  Attributes:
    train_images: [n_train, rows, cols] uint8 (60000x28x28 for MNIST).
    train_labels: [n_train] int32.
    test_images: [n_test, rows, cols] uint8.
    test_labels: [n_test] int32.
    source: where it came from, for people (a folder, "tensorflow_datasets",
      "scikit-learn digits").
  """

  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  source: str


@dataclasses.dataclass(frozen=True)
class FileSearch:
  """The outcome of looking for a dataset's IDX files in local folders.

  Attributes:
    paths: role ("train_images", ...) -> file, or None when no folder held all
      four files.
    description: the folder used and why it was looked at, or "" when none.
    places: one line per place looked at, with what was found there.
    cache_dir: the user cache folder searched (and filled by a download).
  """

  paths: dict[str, Path] | None
  description: str
  places: tuple[str, ...]
  cache_dir: Path


def canonical_name(name: str) -> str:
  """Returns the canonical dataset name for a name or alias.

  Args:
    name: "mnist", "fashion_mnist", "digits", or an alias ("fashion-mnist",
      "fmnist"); case and surrounding spaces are ignored.

  Raises:
    DataError: the name is unknown; the message lists the known ones.
  """
  key = str(name).strip().lower()
  key = DATASET_ALIASES.get(key, key)
  if key not in KNOWN_DATASETS:
    aliases = ", ".join(
        f"{alias} = {target}" for alias, target in DATASET_ALIASES.items()
    )
    raise DataError(
        f"unknown dataset {name!r}; known datasets: "
        f"{', '.join(KNOWN_DATASETS)} (aliases: {aliases})"
    )
  return key


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
  """Returns the per-user cache folder of the package.

  Args:
    environ: the environment to read `XDG_CACHE_HOME` and `HOME` from;
      `os.environ` when None.

  Returns:
    `$XDG_CACHE_HOME/amsga_jax` when that variable holds an absolute path,
    else `~/.cache/amsga_jax`.
  """
  environ = os.environ if environ is None else environ
  xdg_cache_home = environ.get("XDG_CACHE_HOME", "")
  if xdg_cache_home and os.path.isabs(xdg_cache_home):
    return Path(xdg_cache_home) / CACHE_FOLDER_NAME

  home = environ.get("HOME") or os.path.expanduser("~")
  return Path(home) / ".cache" / CACHE_FOLDER_NAME


def _cache_dir_or_default(
    cache_dir: str | os.PathLike | None, environ: Mapping[str, str]
) -> Path:
  return default_cache_dir(environ) if cache_dir is None else Path(cache_dir)


def _file_pattern(base_name: str) -> str:
  return f"{base_name}[.gz]"


def _find_in_folder(folder: Path) -> tuple[dict[str, Path] | None, str]:
  """Looks for the four IDX files, plain or gzipped, in one folder.

  Returns:
    The paths by role (or None unless all four are there) and a few words on
    what was found.
  """
  if not folder.exists():
    return None, "no such folder"
  if not folder.is_dir():
    return None, "not a folder"

  paths = {}
  missing = []
  for role, base_name in FILE_NAMES.items():
    for candidate in (folder / base_name, folder / f"{base_name}.gz"):
      if candidate.is_file():
        paths[role] = candidate
        break
    else:
      missing.append(_file_pattern(base_name))

  if not paths:
    return None, "none of the four IDX files"
  if missing:
    return None, f"incomplete, missing {', '.join(missing)}"
  return paths, "found"


def _candidate_folders(
    name: str,
    data_dir: str | os.PathLike | None,
    environ: Mapping[str, str],
    cache_dir: Path,
    system_dirs: Iterable[str | os.PathLike],
) -> list[tuple[str, Path | None]]:
  """Lists the folders to search, in order, each with why it is searched.

  Returns:
    (reason, folder) pairs; the folder is None for a source the caller did
    not set (no `data_dir`, no `AMSGA_DATA_DIR`).
  """
  folder_name = FOLDER_NAMES[name]
  candidates = []

  if data_dir is None:
    candidates.append((_DATA_DIR_REASON, None))
  else:
    data_dir = Path(data_dir).expanduser()
    candidates.append((_DATA_DIR_REASON, data_dir))
    candidates.append((_DATA_DIR_REASON, data_dir / folder_name))

  env_dir = environ.get(ENV_VAR, "")
  env_folder = Path(env_dir).expanduser() / folder_name if env_dir else None
  candidates.append((ENV_VAR, env_folder))

  candidates.append(("user cache", cache_dir / folder_name))
  for system_dir in system_dirs:
    candidates.append(("system folder", Path(system_dir) / folder_name))
  return candidates


def search_dataset_files(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    system_dirs: Iterable[str | os.PathLike] | None = None,
) -> FileSearch:
  """Looks for a dataset's IDX files in the local folders, in search order.

  Args and defaults as for `find_dataset_files`.

  Returns:
    A `FileSearch` holding the first complete set of files (or None) and
    what was found in each place.
  """
  name = _idx_dataset_name(name)
  environ = os.environ if environ is None else environ
  cache_dir = _cache_dir_or_default(cache_dir, environ)
  system_dirs = SYSTEM_DATA_DIRS if system_dirs is None else system_dirs

  other_datasets_folders = set(FOLDER_NAMES.values()) - {FOLDER_NAMES[name]}
  places = []
  passed_over_choices = []
  for reason, folder in _candidate_folders(
      name, data_dir, environ, cache_dir, system_dirs
  ):
    if folder is None:
      places.append(f"{reason}: not set")
      continue
    if folder.name in other_datasets_folders:
      places.append(f"{reason} {folder}: skipped, the folder of another set")
      continue

    paths, outcome = _find_in_folder(folder)
    places.append(f"{reason} {folder}: {outcome}")
    if paths is not None:
      # A data folder that holds the set in its own subfolder is the usual
      # layout, not a fallback worth a warning.
      for passed_folder, choice in passed_over_choices:
        if passed_folder != folder.parent:
          logging.warning("No %s data in %s; using %s", name, choice, folder)
      return FileSearch(paths, f"{folder} ({reason})", tuple(places), cache_dir)
    if reason in (_DATA_DIR_REASON, ENV_VAR):
      passed_over_choices.append((folder, f"{folder} ({reason}: {outcome})"))

  return FileSearch(None, "", tuple(places), cache_dir)


def _ways_to_get(name: str, cache_dir: Path) -> list[str]:
  """Lines telling how to get a dataset that was not found."""
  folder_name = FOLDER_NAMES[name]
  download_way = (
      "pass download=True to load_dataset (the runner's --download flag) to "
      f"fetch it from {MIRRORS[name][0]} into {cache_dir / folder_name}, "
      "checked against known SHA-256 sums"
  )
  subfolders = " and ".join(f"{folder}/" for folder in FOLDER_NAMES.values())
  environment_way = (
      f"set the environment variable {ENV_VAR} to a folder holding "
      f"{subfolders}, each with the four IDX files"
  )
  data_dir_way = (
      "pass data_dir= (a folder holding the four files, or one holding "
      f"{folder_name}/)"
  )
  ways = [download_way, environment_way, data_dir_way]
  if name in SYSTEM_PACKAGES:
    package_way = (
        f"on Debian or Ubuntu: sudo apt install {SYSTEM_PACKAGES[name]} "
        f"(installs {SYSTEM_DATA_DIRS[0]}/{folder_name})"
    )
    ways.insert(0, package_way)
  return ways


def no_data_message(
    name: str,
    places: Iterable[str],
    *,
    cache_dir: Path,
    tfds_outcome: str,
    download_outcome: str,
) -> str:
  """The one message raised when a dataset is nowhere to be found.

  Args:
    name: canonical dataset name.
    places: one line per folder looked at, with what was found.
    cache_dir: the cache folder a download would fill.
    tfds_outcome: whether TensorFlow Datasets was tried and what it said.
    download_outcome: whether a download was tried and what happened.
  """
  files = ", ".join(_file_pattern(base) for base in FILE_NAMES.values())
  looked = [*places, f"TensorFlow Datasets: {tfds_outcome}"]
  looked.append(f"download: {download_outcome}")
  lines = [f"{name} data not found. Looked for {files} in:"]
  lines += [f"  {number}. {place}" for number, place in enumerate(looked, 1)]
  lines.append("To get the data, do one of:")
  lines += [f"  - {way}" for way in _ways_to_get(name, cache_dir)]
  return "\n".join(lines)


def _idx_dataset_name(name: str) -> str:
  name = canonical_name(name)
  if name not in FOLDER_NAMES:
    raise DataError(
        f"{name} comes from scikit-learn and has no IDX files; load it with "
        f"load_dataset({name!r})"
    )
  return name


def find_dataset_files(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    system_dirs: Iterable[str | os.PathLike] | None = None,
) -> tuple[dict[str, Path], str]:
  """Finds the four IDX files of MNIST or Fashion-MNIST in local folders.

  Args:
    name: "mnist" or "fashion_mnist" (or an alias).
    data_dir: an explicit folder holding the four files, or holding `mnist/`
      and `fashion-mnist/`; searched first.
    environ: the environment holding `AMSGA_DATA_DIR` (and `XDG_CACHE_HOME`
      for the default cache); `os.environ` when None.
    cache_dir: the per-user cache folder; `default_cache_dir(environ)` when
      None.
    system_dirs: folders holding dataset subfolders as installed by system
      packages; `SYSTEM_DATA_DIRS` when None.

  Returns:
    The files by role ("train_images", "train_labels", "test_images",
    "test_labels") and a description of the folder they are in.

  Raises:
    DataError: no folder holds all four files; the message lists each place
      looked at and the ways to get the data.
  """
  search = search_dataset_files(
      name,
      data_dir,
      environ=environ,
      cache_dir=cache_dir,
      system_dirs=system_dirs,
  )
  if search.paths is None:
    raise DataError(
        no_data_message(
            canonical_name(name),
            search.places,
            cache_dir=search.cache_dir,
            tfds_outcome="not tried (find_dataset_files looks for files only)",
            download_outcome="not tried (find_dataset_files never downloads)",
        )
    )
  return search.paths, search.description


def read_dataset_files(
    paths: Mapping[str, str | os.PathLike], source: str
) -> RawData:
  """Reads and checks the four IDX files of MNIST or Fashion-MNIST.

  Args:
    paths: the files by role, as `find_dataset_files` returns them.
    source: the description to store in the result.

  Returns:
    The raw data, 28x28 uint8 images and int32 labels.

  Raises:
    DataError: a file is unreadable or corrupt, images are not 28x28, image and
      label counts differ, or a label is outside [0, 10).
  """
  parts = []
  for split in ("train", "test"):
    images, labels = idx.read_images_and_labels(
        paths[f"{split}_images"],
        paths[f"{split}_labels"],
        num_classes=NUM_CLASSES,
        image_shape=IMAGE_SHAPE,
    )
    parts += [images, labels.astype(np.int32)]
  return RawData(*parts, source=source)


def load_from_tfds(name: str) -> tuple[RawData | None, str]:
  """Reads a dataset from TensorFlow Datasets, if it already holds it.

  TFDS is imported here, not at module import, so that the package works
  without it; it is never asked to download. TFDS stores the examples in its
  own order, so the train/validation split differs from the one made from the
  IDX files.

  Args:
    name: "mnist" or "fashion_mnist".

  Returns:
    The raw data (or None) and a few words on what happened.
  """
  try:
    import tensorflow_datasets as tfds
  except ImportError:
    return None, "not installed (pip install tensorflow-datasets)"

  try:
    splits = tfds.load(
        TFDS_NAMES[name],
        split=["train", "test"],
        batch_size=-1,
        as_supervised=True,
        download=False,
    )
    (train_images, train_labels), (test_images, test_labels) = tfds.as_numpy(
        splits
    )
  except Exception as error:
    # TFDS raises many exception types when the data is not prepared.
    reason = str(error).strip().splitlines()[0][:200] if str(error) else ""
    return None, f"tried, no prepared data ({type(error).__name__}: {reason})"

  parts = []
  pairs = ((train_images, train_labels), (test_images, test_labels))
  for images, labels in pairs:
    images = np.asarray(images, dtype=np.uint8).reshape(-1, *IMAGE_SHAPE)
    labels = np.asarray(labels).astype(np.int32)
    if images.shape[0] != labels.shape[0]:
      raise DataError(
          f"{TFDS_SOURCE} {name}: {images.shape[0]} images but "
          f"{labels.shape[0]} labels"
      )
    idx.check_labels(labels, NUM_CLASSES, f"{TFDS_SOURCE} {name}")
    parts += [images, labels]
  return RawData(*parts, source=TFDS_SOURCE), "found"


def fetch_url(url: str, destination: BinaryIO, *, timeout: float = 60) -> None:
  """Copies the body of an HTTP(S) response into an open binary file.

  Args:
    url: what to fetch.
    destination: a file open for binary writing.
    timeout: seconds to wait for the server at each step.
  """
  with urllib.request.urlopen(url, timeout=timeout) as response:
    shutil.copyfileobj(response, destination)


def content_sha256(content: bytes, path: str | os.PathLike) -> str:
  """SHA-256 of the content, of the decompressed content when it is gzip.

  Args:
    content: a file's bytes.
    path: the file's name, for error messages.

  Raises:
    DataError: the content starts like gzip but does not decompress.
  """
  if content.startswith(_GZIP_MAGIC):
    try:
      content = gzip.decompress(content)
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as error:
      raise DataError(
          f"{path}: not a valid gzip file ({type(error).__name__}: {error})"
      ) from error
  return hashlib.sha256(content).hexdigest()


def _remove_quietly(path: Path) -> None:
  try:
    path.unlink()
  except FileNotFoundError:
    pass


def _cached_file_if_valid(
    folder: Path, base_name: str, expected_sha256: str
) -> Path | None:
  """Returns a cached copy of a file whose content has the expected sum.

  Cached copies with another sum are removed, so that they cannot shadow the
  file about to be downloaded.
  """
  for candidate in (folder / base_name, folder / f"{base_name}.gz"):
    if not candidate.is_file():
      continue
    try:
      digest = content_sha256(candidate.read_bytes(), candidate)
    except (OSError, DataError) as error:
      digest = f"unreadable ({error})"
    if digest == expected_sha256:
      return candidate
    logging.warning(
        "Removing %s from the cache: SHA-256 %s, expected %s",
        candidate,
        digest,
        expected_sha256,
    )
    _remove_quietly(candidate)
  return None


def _download_file(
    url: str,
    folder: Path,
    base_name: str,
    expected_sha256: str,
    fetch: Fetch,
) -> Path:
  """Downloads one file into `folder`, atomically and checked.

  The transfer goes to a hidden temporary file in the same folder, whose name
  the loader never looks for; only once its (decompressed) content has the
  expected SHA-256 is it renamed into place with `os.replace`. On any failure
  the temporary file is removed.

  Returns:
    The file's final path: `base_name.gz` for gzip content, else `base_name`.

  Raises:
    DataError: the transfer failed or the content has another sum.
    BaseException: an interruption (such as KeyboardInterrupt) passes
      through, after the temporary file is removed.
  """
  try:
    descriptor, temporary_name = tempfile.mkstemp(
        dir=folder, prefix=f".{base_name}.", suffix=".part"
    )
  except OSError as error:
    raise DataError(f"{folder}: cannot write a file: {error}") from error
  temporary_path = Path(temporary_name)
  try:
    with os.fdopen(descriptor, "wb") as temporary_file:
      fetch(url, temporary_file)
      temporary_file.flush()
      os.fsync(temporary_file.fileno())

    content = temporary_path.read_bytes()
    digest = content_sha256(content, url)
    if digest != expected_sha256:
      raise DataError(
          f"{url}: SHA-256 of the content is {digest}, expected "
          f"{expected_sha256}; the file was discarded"
      )

    is_gzip = content.startswith(_GZIP_MAGIC)
    final_path = folder / (f"{base_name}.gz" if is_gzip else base_name)
    os.replace(temporary_path, final_path)
    return final_path
  except DataError:
    _remove_quietly(temporary_path)
    raise
  except Exception as error:
    # Transfers fail with OSError, urllib and http.client errors, and more.
    _remove_quietly(temporary_path)
    raise DataError(
        f"{url}: download failed ({type(error).__name__}: {error})"
    ) from error
  except BaseException:
    _remove_quietly(temporary_path)
    raise


def download_dataset(
    name: str,
    cache_dir: str | os.PathLike | None = None,
    *,
    fetch: Fetch | None = None,
    sha256_sums: Mapping[str, str] | None = None,
    mirrors: Iterable[str] | None = None,
) -> dict[str, Path]:
  """Downloads the four IDX files of a dataset into the cache, verified.

  Files already in the cache with the right content are kept. Each other file
  is fetched from the mirrors in turn into a temporary file next to its final
  place, checked against its SHA-256 sum (of the decompressed content) and
  only then renamed into place, so that a partial or corrupt download is
  never where the loader would read it.

  Args:
    name: "mnist" or "fashion_mnist" (or an alias).
    cache_dir: the cache folder; the files go to its `mnist/` or
      `fashion-mnist/` subfolder. `default_cache_dir()` when None.
    fetch: `fetch(url, binary_file)` writes the body of `url` into the open
      file; `fetch_url` (urllib) when None. Tests pass a local fake.
    sha256_sums: standard file name -> expected SHA-256 of its uncompressed
      content; `SHA256_SUMS[name]` when None.
    mirrors: base URLs serving `<file name>.gz`, tried in order;
      `MIRRORS[name]` when None.

  Returns:
    The files by role, as `find_dataset_files` returns them.

  Raises:
    DataError: a file could not be fetched from any mirror with the right
      content; the message gives each mirror's failure.
  """
  name = _idx_dataset_name(name)
  cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
  fetch = fetch_url if fetch is None else fetch
  sha256_sums = SHA256_SUMS[name] if sha256_sums is None else sha256_sums
  mirrors = tuple(MIRRORS[name] if mirrors is None else mirrors)

  folder = cache_dir / FOLDER_NAMES[name]
  try:
    folder.mkdir(parents=True, exist_ok=True)
  except OSError as error:
    raise DataError(f"{folder}: cannot create the folder: {error}") from error

  paths = {}
  for role, base_name in FILE_NAMES.items():
    expected_sha256 = sha256_sums[base_name]
    cached_path = _cached_file_if_valid(folder, base_name, expected_sha256)
    if cached_path is not None:
      paths[role] = cached_path
      continue

    failures = []
    for mirror in mirrors:
      url = f"{mirror}{base_name}.gz"
      logging.info("Downloading %s into %s", url, folder)
      try:
        paths[role] = _download_file(
            url, folder, base_name, expected_sha256, fetch
        )
        break
      except DataError as error:
        logging.warning("%s", error)
        failures.append(str(error))
    else:
      raise DataError(
          f"could not download {base_name} for {name}: " + "; ".join(failures)
      )
  return paths


def load_digits_raw(test_size: int = DIGITS_TEST_SIZE) -> RawData:
  """Loads scikit-learn's 8x8 digits, with a fixed held-out test part.

  The 1797 images are split once, with the fixed seed `DIGITS_TEST_SEED`,
  into a test part of `test_size` images and a training part (the rest), the
  counterpart of MNIST's official split, so that the test images do not
  depend on the split seed.

  Args:
    test_size: the number of test images.

  Returns:
    Images [n, 8, 8] uint8 with values 0..16 and int32 labels.

  Raises:
    DataError: scikit-learn is not installed, or `test_size` leaves no
      training images.
  """
  try:
    from sklearn import datasets as sklearn_datasets
  except ImportError as error:
    raise DataError(
        "the digits dataset needs scikit-learn: pip install scikit-learn "
        "(or the package's test extra)"
    ) from error

  digits = sklearn_datasets.load_digits()
  images = np.rint(digits.images).astype(np.uint8)
  labels = digits.target.astype(np.int32)
  if not 0 <= test_size < images.shape[0]:
    raise DataError(
        f"digits test_size {test_size} must be in [0, {images.shape[0]})"
    )

  order = np.random.default_rng(DIGITS_TEST_SEED).permutation(images.shape[0])
  train_indices = order[: images.shape[0] - test_size]
  test_indices = order[images.shape[0] - test_size :]
  return RawData(
      images[train_indices],
      labels[train_indices],
      images[test_indices],
      labels[test_indices],
      source=DIGITS_SOURCE,
  )


def load_raw(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    environ: Mapping[str, str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    system_dirs: Iterable[str | os.PathLike] | None = None,
    fetch: Fetch | None = None,
    use_tfds: bool = True,
    test_size: int | None = None,
) -> RawData:
  """Loads a dataset's official train and test parts from the first source.

  The sources, in order: `data_dir`, `$AMSGA_DATA_DIR`, the user cache, the
  system folders, TensorFlow Datasets, and (only with `download=True`) the
  public mirrors. The source used is logged.

  Args:
    name: "mnist", "fashion_mnist" or "digits" (or an alias).
    data_dir: an explicit folder, as for `find_dataset_files`.
    download: whether to download the data into the cache when no other
      source has it.
    environ: the environment (`os.environ` when None).
    cache_dir: the user cache (`default_cache_dir(environ)` when None).
    system_dirs: folders of system packages (`SYSTEM_DATA_DIRS` when None).
    fetch: the download function (`fetch_url` when None).
    use_tfds: whether to try TensorFlow Datasets.
    test_size: for "digits" only, the size of the held-out test part
      (`DIGITS_TEST_SIZE` when None); MNIST's test part is the official one.

  Returns:
    `RawData`: train images [60000, 28, 28] uint8 and labels [60000] int32,
    test images [10000, 28, 28] and labels [10000] for MNIST and
    Fashion-MNIST; [1497, 8, 8] and [300, 8, 8] for digits; and the source.

  Raises:
    DataError: no source has the data (one message listing every place
      looked at and the ways to get it), a file is corrupt, or the name is
      unknown.
  """
  name = canonical_name(name)
  if name == "digits":
    raw = load_digits_raw(DIGITS_TEST_SIZE if test_size is None else test_size)
    logging.info("Loaded digits from %s", raw.source)
    return raw
  if test_size is not None:
    raise DataError(
        f"test_size applies to digits only; {name} uses its official 10000 "
        "test images"
    )

  search = search_dataset_files(
      name,
      data_dir,
      environ=environ,
      cache_dir=cache_dir,
      system_dirs=system_dirs,
  )
  cache_dir = search.cache_dir
  if search.paths is not None:
    logging.info("Loading %s from %s", name, search.description)
    return read_dataset_files(search.paths, search.description)

  tfds_outcome = "not tried (use_tfds=False)"
  if use_tfds:
    raw, tfds_outcome = load_from_tfds(name)
    if raw is not None:
      logging.info("Loaded %s from %s", name, raw.source)
      return raw

  if not download:
    download_outcome = "not requested (download=False)"
  else:
    try:
      paths = download_dataset(name, cache_dir, fetch=fetch)
    except DataError as error:
      download_outcome = f"failed: {error}"
    else:
      source = f"{cache_dir / FOLDER_NAMES[name]} (downloaded)"
      logging.info("Loading %s from %s", name, source)
      return read_dataset_files(paths, source)

  raise DataError(
      no_data_message(
          name,
          search.places,
          cache_dir=cache_dir,
          tfds_outcome=tfds_outcome,
          download_outcome=download_outcome,
      )
  )
