"""A pure-Python reader with the `safetensors.safe_open` interface, for machines without the package.

The lent GPU machine has torch but not safetensors. Every reader in training/ imports `safe_open`
from here: the package's own when it is installed, else this reader. Covers what training/ uses:
`with safe_open(path, framework="pt") as f:` then `f.metadata()`, `f.keys()`, `f.get_tensor(name)`.
"""
import json
import struct

import torch

HEADER_SIZE_BYTES = 8  # little-endian u64 length of the JSON header


class FallbackSafeOpen:
    def __init__(self, path: str, framework: str = "pt", device: str = "cpu"):
        if framework != "pt":
            raise ValueError(f"only framework='pt' is supported, not {framework!r}")
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(HEADER_SIZE_BYTES))
            self._header = json.loads(f.read(length))
            self._data = f.read()
        self._device = device

    def __enter__(self) -> "FallbackSafeOpen":
        return self

    def __exit__(self, *_exc) -> None:
        self._data = b""

    def metadata(self) -> dict[str, str] | None:
        return self._header.get("__metadata__")

    def keys(self) -> list[str]:
        return sorted(k for k in self._header if k != "__metadata__")

    def get_tensor(self, name: str) -> torch.Tensor:
        from .model_io import _DTYPE_NAMES  # the writer's dtype table; imported late, model_io imports us
        dtypes = {code: dtype for dtype, code in _DTYPE_NAMES.items()}
        entry = self._header[name]
        if entry["dtype"] not in dtypes:
            raise ValueError(f"tensor {name!r}: dtype {entry['dtype']} is not supported by this reader")
        start, end = entry["data_offsets"]
        dtype = dtypes[entry["dtype"]]
        if start == end:
            return torch.empty(entry["shape"], dtype=dtype, device=self._device)
        # a bytearray copy: torch.frombuffer wants a writable buffer that outlives the file's bytes
        flat = torch.frombuffer(bytearray(self._data[start:end]), dtype=dtype)
        return flat.reshape(entry["shape"]).to(self._device)


try:
    from safetensors import safe_open
except ImportError:
    safe_open = FallbackSafeOpen
