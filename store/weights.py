"""Reading weight files without torch: safetensors headers, GGUF metadata, checksums, disk usage.

- safetensors: ``safetensors.safe_open`` reads and checks the header (no tensor is read): each
  tensor's dtype and shape give the parameter count and dtype.
- GGUF: the ``gguf`` package's reader (memory-mapped): architecture, parameter count, quantisation.
- Sizes count each file once by (device, inode), following symlinks: a Hugging Face cache
  snapshot links into shared blobs, and hard links share an inode.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.errors import StoreError

# safetensors dtype -> readable name (a dtype missing here is shown in lower case)
SAFETENSORS_DTYPES: dict[str, str] = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3",
    "F8_E5M2": "float8_e5m2",
    "F8_E8M0": "float8_e8m0",
    "F6_E2M3": "float6_e2m3",
    "F6_E3M2": "float6_e3m2",
    "F4": "float4",
    "I64": "int64",
    "U64": "uint64",
    "I32": "int32",
    "U32": "uint32",
    "I16": "int16",
    "U16": "uint16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
    "C64": "complex64",
}

# safetensors' own reasons for refusing a header, in words that say what is wrong with the file
HEADER_PROBLEMS: dict[str, str] = {
    "invalid header length": "it declares more header bytes than the file holds",
    "header too large": "it declares an implausibly long header",
    "incomplete metadata, file not fully covered": "its tensors do not cover the file exactly: truncated?",
    "invalid shape, data type, or offset for tensor": "a tensor's shape and dtype do not match its bytes: truncated?",
}
SAFETENSORS_PREFIX = "Error while deserializing header: "


@dataclass(frozen=True)
class SafetensorsTensor:
    """One tensor listed in a safetensors header (its data is not read)."""

    name: str
    dtype: str  # safetensors' code: F32, BF16, I8, ...
    shape: tuple[int, ...]

    @property
    def parameters(self) -> int:
        return math.prod(self.shape)

    @property
    def readable_dtype(self) -> str:
        return SAFETENSORS_DTYPES.get(self.dtype, self.dtype.lower())


@dataclass(frozen=True)
class SafetensorsSummary:
    parameters: int
    dtype_parameters: dict[str, int]  # readable dtype -> parameter count

    @property
    def dtype(self) -> str | None:
        if not self.dtype_parameters:
            return None
        return max(self.dtype_parameters.items(), key=lambda item: item[1])[0]


def read_safetensors_tensors(path: Path) -> list[SafetensorsTensor]:
    """The tensors of a safetensors file in file order, its header checked by ``safe_open``."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as weights:
            names = weights.offset_keys() if hasattr(weights, "offset_keys") else weights.keys()
            return [_tensor(weights, name) for name in names]
    except OSError as error:
        raise StoreError(
            f"cannot read the weights file {path.name}: {error.strerror or error}"
        ) from None
    except SafetensorError as error:
        raise StoreError(_header_problem(path.name, str(error))) from None


def _tensor(weights: Any, name: str) -> SafetensorsTensor:
    view = weights.get_slice(name)
    return SafetensorsTensor(name=name, dtype=view.get_dtype(), shape=tuple(view.get_shape()))


def _header_problem(name: str, message: str) -> str:
    """One sentence for safetensors' refusal ``message``."""
    reason = message.strip().splitlines()[0].removeprefix(SAFETENSORS_PREFIX)
    if reason == "header too small":
        return f"the weights file {name} is too short to be a safetensors file"
    return f"the weights file {name} has a corrupt safetensors header ({HEADER_PROBLEMS.get(reason, reason)})"


def summarize_safetensors(paths: Iterable[Path]) -> SafetensorsSummary:
    """Parameter count and per-dtype counts over all the given safetensors files."""
    counts: Counter[str] = Counter()
    for path in paths:
        for tensor in read_safetensors_tensors(path):
            counts[tensor.readable_dtype] += tensor.parameters
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


ByteProgress = Callable[[int, int], None]  # (bytes done, bytes in all)


def sha256_file(
    path: Path, chunk: int = 8 * 1024 * 1024, *, on_read: Callable[[int], None] | None = None
) -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks; ``on_read`` gets each chunk's length."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
            if on_read is not None:
                on_read(len(block))
    return digest.hexdigest()


def sha256_files(paths: list[Path], on_bytes: ByteProgress | None = None) -> dict[Path, str]:
    """SHA-256 (hex) of each file; ``on_bytes(done, total)`` follows the bytes read over all."""
    total = sum(path.stat().st_size for path in paths)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_bytes is not None:
            on_bytes(done, total)

    return {path: sha256_file(path, on_read=advance) for path in paths}


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
