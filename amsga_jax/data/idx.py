"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, and
the array's elements in big-endian order. The magic number is two zero bytes,
one byte naming the element type (0x08 for uint8) and one byte giving the
number of dimensions: 0x00000803 for the [n, 28, 28] uint8 images and
0x00000801 for the [n] uint8 labels. Files may be gzipped; a path ending in
`.gz` is read and written through gzip.

Every problem with a file (missing, unreadable, not gzip, bad magic, truncated,
trailing bytes, labels out of range, images and labels that do not pair up)
raises a `DataError` that names the file and says exactly what is wrong.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# Element type byte of the magic number -> big-endian numpy dtype.
_DTYPE_BY_TYPE_CODE = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_CODE_BY_KIND_AND_SIZE = {
    (dtype.kind, dtype.itemsize): code
    for code, dtype in _DTYPE_BY_TYPE_CODE.items()
}


class DataError(ValueError):
  """A dataset is missing, corrupt, or asked for by an unknown name."""


def _is_gzip_path(path: str | os.PathLike) -> bool:
  return os.fspath(path).endswith(".gz")


def read_file_bytes(path: str | os.PathLike) -> bytes:
  """Reads a whole file, decompressing it when its name ends in `.gz`.

  Args:
    path: the file to read.

  Returns:
    The file's (decompressed) content.

  Raises:
    DataError: the file is missing or unreadable, or a `.gz` file is not valid
      gzip (bad header, truncated stream, corrupt data).
  """
  try:
    with open(path, "rb") as file:
      content = file.read()
  except OSError as error:
    raise DataError(f"{path}: cannot read the file: {error}") from error

  if not _is_gzip_path(path):
    return content

  try:
    return gzip.decompress(content)
  except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as error:
    raise DataError(
        f"{path}: not a valid gzip file ({type(error).__name__}: {error})"
    ) from error


def parse_idx(
    content: bytes,
    path: str | os.PathLike = "<bytes>",
    *,
    expected_magic: int | None = None,
) -> np.ndarray:
  """Decodes the bytes of an (uncompressed) IDX file.

  Args:
    content: the whole uncompressed file.
    path: the file's name, used only in error messages.
    expected_magic: when given, the magic number the file must have, such as
      `IMAGES_MAGIC` or `LABELS_MAGIC`.

  Returns:
    The array, with the shape the header declares and the element type in
    native byte order (uint8 for MNIST files).

  Raises:
    DataError: bad magic number, header shorter than declared, data shorter
      (truncated) or longer (trailing bytes) than the header says.
  """
  if len(content) < 4:
    raise DataError(
        f"{path}: truncated file: {len(content)} bytes, shorter than the "
        "4-byte IDX magic number"
    )

  magic = int.from_bytes(content[:4], "big")
  type_code = content[2]
  num_dims = content[3]
  if expected_magic is not None and magic != expected_magic:
    raise DataError(
        f"{path}: bad magic number 0x{magic:08X}, expected "
        f"0x{expected_magic:08X}"
    )
  if content[0] != 0 or content[1] != 0 or type_code not in _DTYPE_BY_TYPE_CODE:
    raise DataError(f"{path}: bad magic number 0x{magic:08X}, not an IDX file")

  header_size = 4 + 4 * num_dims
  if len(content) < header_size:
    raise DataError(
        f"{path}: truncated file: expected a {header_size}-byte header for "
        f"{num_dims} dimensions, got {len(content)} bytes"
    )

  shape = tuple(
      int.from_bytes(content[4 + 4 * axis : 8 + 4 * axis], "big")
      for axis in range(num_dims)
  )
  dtype = _DTYPE_BY_TYPE_CODE[type_code]
  expected_size = header_size + math.prod(shape) * dtype.itemsize
  if len(content) != expected_size:
    problem = (
        "truncated file"
        if len(content) < expected_size
        else ("trailing bytes after the data")
    )
    shape_text = "x".join(str(size) for size in shape)
    raise DataError(
        f"{path}: {problem}: expected {expected_size} bytes (a "
        f"{header_size}-byte header and {shape_text} elements of "
        f"{dtype.itemsize} byte(s)), got {len(content)}"
    )

  array = np.frombuffer(content, dtype=dtype, offset=header_size)
  return array.reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(
    path: str | os.PathLike, *, expected_magic: int | None = None
) -> np.ndarray:
  """Reads an IDX file, gzipped when its name ends in `.gz`.

  Args:
    path: the file.
    expected_magic: when given, the magic number the file must have
      (`IMAGES_MAGIC` = 0x00000803 for [n, rows, cols] uint8 images,
      `LABELS_MAGIC` = 0x00000801 for [n] uint8 labels).

  Returns:
    The array, shaped as the header declares, in native byte order; a
    writable copy of the file's content.

  Raises:
    DataError: the file is unreadable, not valid gzip, or not a well-formed
      IDX file; the message names the file and the problem.
  """
  return parse_idx(read_file_bytes(path), path, expected_magic=expected_magic)


def read_images_and_labels(
    images_path: str | os.PathLike,
    labels_path: str | os.PathLike,
    *,
    num_classes: int,
    image_shape: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Reads a pair of image and label IDX files and checks that they match.

  Args:
    images_path: the images file (magic 0x00000803).
    labels_path: the labels file (magic 0x00000801).
    num_classes: labels must lie in [0, num_classes).
    image_shape: when given, the (rows, cols) every image must have.

  Returns:
    images: [n, rows, cols] uint8.
    labels: [n] uint8.

  Raises:
    DataError: either file is bad, the image size is not `image_shape`, the
      counts differ, or a label is out of range.
  """
  images = read_idx(images_path, expected_magic=IMAGES_MAGIC)
  labels = read_idx(labels_path, expected_magic=LABELS_MAGIC)

  if image_shape is not None and images.shape[1:] != tuple(image_shape):
    raise DataError(
        f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, "
        f"expected {image_shape[0]}x{image_shape[1]}"
    )
  if images.shape[0] != labels.shape[0]:
    raise DataError(
        f"count mismatch between images and labels: {images_path} has "
        f"{images.shape[0]} images but {labels_path} has {labels.shape[0]} "
        "labels"
    )
  check_labels(labels, num_classes, labels_path)
  return images, labels


def check_labels(
    labels: np.ndarray, num_classes: int, path: str | os.PathLike
) -> None:
  """Raises a `DataError` naming the first label outside [0, num_classes).

  Args:
    labels: [n] integer labels.
    num_classes: the number of classes.
    path: where the labels came from, for the message.
  """
  out_of_range = (labels < 0) | (labels >= num_classes)
  if out_of_range.any():
    index = int(np.argmax(out_of_range))
    raise DataError(
        f"{path}: label {int(labels[index])} out of range [0, {num_classes}) "
        f"at index {index}"
    )


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
  """Writes an array as an IDX file, gzipped when the path ends in `.gz`.

  Args:
    path: the file to write (replaced when it exists).
    array: any shape (at most 255 dimensions) with element type uint8, int8,
      int16, int32, float32 or float64; uint8 arrays of 3 and 1 dimensions
      give the MNIST image and label files.

  Raises:
    DataError: the element type has no IDX code.
  """
  array = np.asarray(array)
  type_code = _TYPE_CODE_BY_KIND_AND_SIZE.get(
      (array.dtype.kind, array.dtype.itemsize)
  )
  if type_code is None or array.ndim > 255:
    raise DataError(
        f"{path}: cannot write a {array.ndim}-dimensional {array.dtype} "
        "array as IDX (uint8, int8, int16, int32, float32 or float64, at "
        "most 255 dimensions)"
    )

  header = bytes([0, 0, type_code, array.ndim]) + b"".join(
      size.to_bytes(4, "big") for size in array.shape
  )
  data = np.ascontiguousarray(
      array, dtype=_DTYPE_BY_TYPE_CODE[type_code]
  ).tobytes()
  content = header + data

  if _is_gzip_path(path):
    content = gzip.compress(content, mtime=0)
  with open(path, "wb") as file:
    file.write(content)
