"""The model-file format shared with the Rust engine, safetensors reading and writing, checkpoint loading.

A model file is safetensors with float16 reference tensors (no BN) and string metadata:
architecture, architecture_version, class_names, input_size, normalization,
default_boxes, source, score_threshold, and optionally class_score_thresholds (a JSON
object of class name to threshold, over score_threshold for the classes it names).

Every reader in training/ takes `safe_open` from here: the safetensors package's own when it is
installed, else `FallbackSafeOpen`, a pure-Python reader with the same interface for the lent GPU
machine, which has torch but not safetensors. It covers what training/ uses:
`with safe_open(path, framework="pt") as f:` then `f.metadata()`, `f.keys()`, `f.get_tensor(name)`.
"""
import json
import struct
from pathlib import Path

import torch

from .arch import ARCH, CLASS_NAMES, DEFAULT_BOXES, INPUT_SIZE
from .model import TinySSD, load_reference_state_dict, reference_state_dict
from .tensor_cache import constant

# x = (pixel / 255 - mean) / std per RGB channel; training uses exactly this too.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
NORMALIZATION = {"channel_order": "RGB", "mean": list(MEAN), "std": list(STD)}
DEFAULT_SCORE_THRESHOLD = "0.4"


def model_metadata(source: str, score_threshold: str = DEFAULT_SCORE_THRESHOLD) -> dict[str, str]:
    return {
        "architecture": ARCH["name"],
        "architecture_version": str(ARCH["version"]),
        "class_names": json.dumps(CLASS_NAMES),
        "input_size": str(INPUT_SIZE),
        "normalization": json.dumps(NORMALIZATION),
        "default_boxes": json.dumps(DEFAULT_BOXES),
        "source": source,
        "score_threshold": score_threshold,
    }


def save_model_file(model: TinySSD, path: Path, source: str,
                    score_threshold: str = DEFAULT_SCORE_THRESHOLD) -> None:
    tensors = {k: v.to(torch.float16).contiguous() for k, v in reference_state_dict(model).items()}
    write_safetensors(tensors, Path(path), model_metadata(source, score_threshold))


_DTYPE_NAMES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
                torch.int64: "I64"}
HEADER_LENGTH = struct.Struct("<Q")  # the file starts with the JSON header's length, a little-endian u64


def write_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Byte-for-byte deterministic safetensors writer.

    safetensors.torch.save_file emits the metadata in hash order, so the same model
    gives different bytes per run; here header keys are sorted.
    """
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in _DTYPE_NAMES:
            raise ValueError(f"tensor {name!r} has unsupported dtype {t.dtype}")
        # flattened first: a "contiguous" tensor with size-1 dims may still carry odd strides
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)  # the format pads the header to 8 bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(HEADER_LENGTH.pack(len(header_bytes)))
        f.write(header_bytes)
        for data in blobs:
            f.write(data)


class FallbackSafeOpen:
    """`safetensors.safe_open` for machines without the package (see the module docstring)."""

    def __init__(self, path: str, framework: str = "pt", device: str = "cpu"):
        if framework != "pt":
            raise ValueError(f"only framework='pt' is supported, not {framework!r}")
        with open(path, "rb") as f:
            (length,) = HEADER_LENGTH.unpack(f.read(HEADER_LENGTH.size))
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


def set_class_thresholds(path: Path, thresholds: dict[str, float]) -> None:
    """Rewrites the model file at `path` with per-class score thresholds in its metadata (where the
    app's sliders start); the weights stay byte for byte. Replaced atomically."""
    unknown = sorted(set(thresholds) - set(CLASS_NAMES[1:]))
    if unknown:
        raise ValueError(f"not classes of the model: {', '.join(unknown)}")
    if not all(0.0 <= t <= 1.0 for t in thresholds.values()):
        raise ValueError(f"thresholds must lie between 0 and 1: {thresholds}")
    tensors, metadata = read_model_file(path)
    metadata = {**metadata, "class_score_thresholds": json.dumps(dict(sorted(thresholds.items())))}
    rewritten = path.with_name(path.name + ".rewriting")
    write_safetensors(tensors, rewritten, metadata)
    rewritten.replace(path)


def read_model_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors = {}
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        for key in f.keys():
            tensors[key] = f.get_tensor(key)
    if metadata.get("architecture") != ARCH["name"]:
        raise ValueError(f"{path}: architecture metadata is {metadata.get('architecture')!r}, expected {ARCH['name']!r}")
    return tensors, metadata


def load_model_file(path: Path, batch_norm: bool = False, dtype=torch.float32) -> TinySSD:
    """A TinySSD holding the file's weights (upcast to `dtype`); BN layers start as identity."""
    tensors, _ = read_model_file(path)
    model = TinySSD(batch_norm=batch_norm).to(dtype)
    load_reference_state_dict(model, {k: v.to(dtype) for k, v in tensors.items()})
    return model


def load_checkpoint_model(path: Path) -> tuple[TinySSD, dict]:
    """The model of a training checkpoint (runs/NAME/last.pt or best.pt), in eval mode."""
    ckpt = torch.load(str(path), map_location="cpu", weights_only=False)
    model = TinySSD(batch_norm=ckpt["batch_norm"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 RGB [N, 3, H, W] -> network input, (pixel / 255 - mean) / std."""
    mean = constant(MEAN, torch.float32, images_uint8.device).view(1, 3, 1, 1)
    std = constant(STD, torch.float32, images_uint8.device).view(1, 3, 1, 1)
    return (images_uint8.float() / 255.0 - mean) / std
