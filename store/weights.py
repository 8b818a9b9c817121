"""Reading weight files without torch: safetensors headers, GGUF metadata, checksums, disk usage.

- safetensors: the file starts with an 8-byte little-endian header length and a JSON header that
  lists each tensor's dtype, shape and byte range; we parse and check it ourselves (no tensor is
  read), which gives the parameter count and dtype.
- GGUF: the ``gguf`` package's reader (memory-mapped): architecture, parameter count, quantisation.
- Sizes count each file once by (device, inode), following symlinks: a Hugging Face cache
  snapshot links into shared blobs, and hard links share an inode.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.errors import StoreError

MAX_HEADER_BYTES = 100 * 1024 * 1024

# safetensors dtype -> (bytes per element, readable name); sub-byte types are counted as 1 byte
# per element only for the range check's upper bound.
SAFETENSORS_DTYPES: dict[str, tuple[float, str]] = {
    "F64": (8, "float64"),
    "F32": (4, "float32"),
    "F16": (2, "float16"),
    "BF16": (2, "bfloat16"),
    "F8_E4M3": (1, "float8_e4m3"),
    "F8_E5M2": (1, "float8_e5m2"),
    "F8_E8M0": (1, "float8_e8m0"),
    "F6_E2M3": (0.75, "float6_e2m3"),
    "F6_E3M2": (0.75, "float6_e3m2"),
    "F4": (0.5, "float4"),
    "I64": (8, "int64"),
    "U64": (8, "uint64"),
    "I32": (4, "int32"),
    "U32": (4, "uint32"),
    "I16": (2, "int16"),
    "U16": (2, "uint16"),
    "I8": (1, "int8"),
    "U8": (1, "uint8"),
    "BOOL": (1, "bool"),
    "C64": (8, "complex64"),
}


@dataclass(frozen=True)
class SafetensorsSummary:
    parameters: int
    dtype_parameters: dict[str, int]  # readable dtype -> parameter count

    @property
    def dtype(self) -> str | None:
        if not self.dtype_parameters:
            return None
        return max(self.dtype_parameters.items(), key=lambda item: item[1])[0]


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The checked JSON header of a safetensors file (tensor name -> dtype, shape, offsets)."""
    name = path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise StoreError(f"the weights file {name} is too short to be a safetensors file")
            (length,) = struct.unpack("<Q", prefix)
            if length == 0 or length > MAX_HEADER_BYTES or length > size - 8:
                raise StoreError(
                    f"the weights file {name} has a corrupt safetensors header (it declares {length} header bytes)"
                )
            raw = handle.read(length)
    except OSError as error:
        raise StoreError(
            f"cannot read the weights file {name}: {error.strerror or error}"
        ) from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StoreError(
            f"the weights file {name} has a corrupt safetensors header (not JSON)"
        ) from None
    if not isinstance(header, dict):
        raise StoreError(
            f"the weights file {name} has a corrupt safetensors header (not a JSON object)"
        )
    data_bytes = size - 8 - length
    for tensor, entry in header.items():
        if tensor == "__metadata__":
            continue
        _check_tensor_entry(name, tensor, entry, data_bytes)
    return header


def _check_tensor_entry(name: str, tensor: str, entry: Any, data_bytes: int) -> None:
    problem = None
    if not isinstance(entry, dict):
        problem = "is not an object"
    elif entry.get("dtype") not in SAFETENSORS_DTYPES:
        problem = f"has the unknown dtype {entry.get('dtype')!r}"
    elif not isinstance(entry.get("shape"), list) or not all(
        isinstance(dim, int) and dim >= 0 for dim in entry["shape"]
    ):
        problem = "has an invalid shape"
    else:
        offsets = entry.get("data_offsets")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(v, int) for v in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_bytes
        ):
            problem = "points outside the file (truncated?)"
    if problem:
        raise StoreError(
            f"the weights file {name} has a corrupt safetensors header (tensor {tensor!r} {problem})"
        )


def _numel(shape: list[int]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def summarize_safetensors(paths: Iterable[Path]) -> SafetensorsSummary:
    """Parameter count and per-dtype counts over all the given safetensors files."""
    counts: Counter[str] = Counter()
    for path in paths:
        for tensor, entry in read_safetensors_header(path).items():
            if tensor == "__metadata__":
                continue
            counts[SAFETENSORS_DTYPES[entry["dtype"]][1]] += _numel(entry["shape"])
    return SafetensorsSummary(parameters=sum(counts.values()), dtype_parameters=dict(counts))


@dataclass(frozen=True)
class GgufSummary:
    architecture: str | None
    name: str | None
    parameters: int
    quantization: str | None
    context_length: int | None
    has_chat_template: bool
    tensor_types: dict[str, int] = field(default_factory=dict)  # type -> parameters


def read_gguf(path: Path) -> GgufSummary:
    """Metadata of a GGUF file through the gguf package's reader (no weights are loaded)."""
    try:
        from gguf import GGUFReader, LlamaFileType
    except ImportError:  # pragma: no cover - gguf is a declared dependency
        raise StoreError("reading GGUF files needs the gguf package (pip install gguf)") from None
    try:
        reader = GGUFReader(str(path))
    except Exception as error:  # the reader raises ValueError/struct.error/... on bad files
        raise StoreError(
            f"{path.name} is not a readable GGUF file ({type(error).__name__})"
        ) from None

    def field_value(key: str) -> Any:
        found = reader.fields.get(key)
        if found is None:
            return None
        try:
            return found.contents()
        except Exception:
            return None

    types: Counter[str] = Counter()
    for tensor in reader.tensors:
        types[tensor.tensor_type.name] += int(tensor.n_elements)
    architecture = field_value("general.architecture")
    file_type = field_value("general.file_type")
    quantization: str | None = None
    if isinstance(file_type, int):
        try:
            quantization = LlamaFileType(file_type).name.removeprefix("MOSTLY_")
        except ValueError:
            quantization = None
    if quantization is None and types:
        quantization = types.most_common(1)[0][0]
    context = field_value(f"{architecture}.context_length") if architecture else None
    return GgufSummary(
        architecture=str(architecture) if architecture else None,
        name=str(field_value("general.name")) if field_value("general.name") else None,
        parameters=sum(types.values()),
        quantization=quantization,
        context_length=int(context) if isinstance(context, int) else None,
        has_chat_template=bool(field_value("tokenizer.chat_template")),
        tensor_types=dict(types),
    )


def sha256_file(path: Path, chunk: int = 8 * 1024 * 1024) -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _files_under(path: Path) -> Iterator[Path]:
    if path.is_dir() and not path.is_symlink():
        for root, _dirs, names in os.walk(path):
            for name in names:
                yield Path(root) / name
    elif path.exists():
        yield path


def disk_usage(paths: Iterable[Path]) -> int:
    """Bytes used by the files under ``paths``, each file (inode) counted once, links followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in paths:
        for file in _files_under(Path(root)):
            try:
                info = file.stat()
            except OSError:
                continue  # a dangling symlink
            key = (info.st_dev, info.st_ino)
            if key not in seen:
                seen.add(key)
                total += info.st_size
    return total


def freed_by_deleting(path: Path) -> int:
    """Bytes that deleting ``path`` would free: files whose every hard link lies inside it
    (symlinks inside free nothing of their targets)."""
    if not path.exists() and not path.is_symlink():
        return 0
    if path.is_symlink() or path.is_file():
        info = path.lstat()
        return (
            info.st_size if path.is_file() and not path.is_symlink() and info.st_nlink <= 1 else 0
        )
    links: Counter[tuple[int, int]] = Counter()
    sizes: dict[tuple[int, int], tuple[int, int]] = {}
    for root, _dirs, names in os.walk(path):
        for name in names:
            info = (Path(root) / name).lstat()
            if not os.path.isfile(Path(root) / name) or os.path.islink(Path(root) / name):
                continue
            key = (info.st_dev, info.st_ino)
            links[key] += 1
            sizes[key] = (info.st_size, info.st_nlink)
    return sum(size for key, (size, nlink) in sizes.items() if nlink <= links[key])
