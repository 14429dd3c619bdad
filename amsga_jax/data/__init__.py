"""The data layer: IDX files, where datasets come from, and their splits.

`load_dataset("mnist")` returns a `Dataset` of standardised float32 train
(50 000), validation (10 000) and test (10 000) images, found in the first of:
an explicit folder, `$AMSGA_DATA_DIR`, the user cache, system folders,
TensorFlow Datasets, or (with `download=True`) the public mirrors. `"digits"`
is scikit-learn's small 8x8 set, for tests and laptops.
"""

from amsga_jax.data.datasets import Dataset
from amsga_jax.data.datasets import load_dataset
from amsga_jax.data.datasets import prepare_dataset
from amsga_jax.data.idx import DataError
from amsga_jax.data.idx import read_idx
from amsga_jax.data.idx import write_idx
from amsga_jax.data.sources import KNOWN_DATASETS
from amsga_jax.data.sources import RawData
from amsga_jax.data.sources import canonical_name
from amsga_jax.data.sources import download_dataset
from amsga_jax.data.sources import find_dataset_files
from amsga_jax.data.sources import load_raw

__all__ = [
    "KNOWN_DATASETS",
    "DataError",
    "Dataset",
    "RawData",
    "canonical_name",
    "download_dataset",
    "find_dataset_files",
    "load_dataset",
    "load_raw",
    "prepare_dataset",
    "read_idx",
    "write_idx",
]
