"""TinySSD as a torch Module, built layer by layer from the architecture table.

Parameter names are the weight-file contract with the Rust engine: `conv1.weight`,
`fire1.squeeze.weight`, `fire1.expand1x1.bias`, `loc.fire4.weight`, `conf.fire4.bias`...
With `batch_norm=True` (training only) each ReLU conv gets a BatchNorm under a separate
name (`conv1_bn`, `fire1.squeeze_bn`, ...), and with `head_batch_norm=True` each of the 12
predictor convolutions too (`loc.fire4_bn`, `conf.fire4_bn`, ...: ScratchDet's batch norm in
the detection head); `fold_batchnorm` turns such a state dict into the plain reference
tensors, so the model file and the engine do not change.
"""
import torch
from torch import nn
import torch.nn.functional as F

from .arch import ARCH, NUM_CLASSES, SOURCES, boxes_per_cell


def _conv_bn_relu(module: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    x = getattr(module, name)(x)
    x = getattr(module, name + "_bn")(x)
    return F.relu(x, inplace=True)


class Fire(nn.Module):
    """squeeze 1x1 + ReLU, then expand 1x1 and expand 3x3 (pad 1), each + ReLU, concatenated."""

    def __init__(self, cin: int, squeeze: int, expand1x1: int, expand3x3: int, batch_norm: bool):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.squeeze_bn = nn.BatchNorm2d(squeeze) if batch_norm else nn.Identity()
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_bn = nn.BatchNorm2d(expand1x1) if batch_norm else nn.Identity()
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_bn = nn.BatchNorm2d(expand3x3) if batch_norm else nn.Identity()
        self.out_channels = expand1x1 + expand3x3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = _conv_bn_relu(self, "squeeze", x)
        return torch.cat([_conv_bn_relu(self, "expand1x1", s), _conv_bn_relu(self, "expand3x3", s)], dim=1)


class ConvBlock(nn.Module):
    """A plain conv + ReLU layer; its parameters sit directly under the layer name."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, pad: int, batch_norm: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, pad)
        self.bn = nn.BatchNorm2d(cout) if batch_norm else nn.Identity()
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class MaxPool(nn.Module):
    """3x3 stride 2 max pool with Caffe's ceil rounding and no padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=2, ceil_mode=True)


class TinySSD(nn.Module):
    def __init__(self, batch_norm: bool = False, arch: dict = ARCH, head_batch_norm: bool = False):
        super().__init__()
        self.batch_norm = batch_norm
        self.head_batch_norm = head_batch_norm
        self.layer_names: list[str] = []
        channels = {}
        cin = arch["in_channels"]
        for spec in arch["layers"]:
            name, op = spec["name"], spec["op"]
            if op == "conv":
                layer = ConvBlock(cin, spec["out"], spec["kernel"], spec["stride"], spec["pad"], batch_norm)
                cin = spec["out"]
            elif op == "fire":
                layer = Fire(cin, spec["squeeze"], spec["expand1x1"], spec["expand3x3"], batch_norm)
                cin = layer.out_channels
            elif op == "maxpool":
                layer = MaxPool()
            else:
                raise ValueError(f"unknown op {op!r} for layer {name!r} in architecture.json")
            self.add_module(name, layer)
            self.layer_names.append(name)
            channels[name] = cin
        self.source_names = [s["layer"] for s in SOURCES]
        self.loc = nn.ModuleDict()
        self.conf = nn.ModuleDict()
        for source in SOURCES:
            k = boxes_per_cell(source)
            c = channels[source["layer"]]
            for predictors, outputs in ((self.loc, k * 4), (self.conf, k * NUM_CLASSES)):
                predictors[source["layer"]] = nn.Conv2d(c, outputs, 3, padding=1)
                if head_batch_norm:
                    predictors[source["layer"] + "_bn"] = nn.BatchNorm2d(outputs)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output by layer name (post-ReLU)."""
        features = {}
        for name in self.layer_names:
            x = getattr(self, name)(x)
            features[name] = x
        return features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (loc [N, 8030, 4], conf [N, 8030, 21] raw logits)."""
        features = self.forward_features(x)
        return self.head(features)

    def head(self, features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        # Box-order contract (torchvision SSDScoringHead): per source, (N, k*C, H, W)
        # -> (N, H, W, k*C) -> (N, H*W*k, C); sources concatenated in table order.
        locs, confs = [], []
        for name in self.source_names:
            f = features[name]
            n = f.shape[0]
            locs.append(self._predict(self.loc, name, f).permute(0, 2, 3, 1).reshape(n, -1, 4))
            confs.append(self._predict(self.conf, name, f).permute(0, 2, 3, 1).reshape(n, -1, NUM_CLASSES))
        return torch.cat(locs, dim=1), torch.cat(confs, dim=1)

    def _predict(self, predictors: nn.ModuleDict, source: str, f: torch.Tensor) -> torch.Tensor:
        x = predictors[source](f)
        return predictors[source + "_bn"](x) if self.head_batch_norm else x


def reference_state_dict(model: TinySSD) -> dict[str, torch.Tensor]:
    """The exported tensors under contract names, BN folded into the convs when the model has BN."""
    return fold_batchnorm({k: v.detach() for k, v in model.state_dict().items()})


def _contract_name(name: str) -> str:
    # ConvBlock stores its conv as `<layer>.conv.*`; the contract says `<layer>.*`.
    return name.replace(".conv.", ".")


def _is_bn_key(key: str) -> bool:
    prefix = key.rsplit(".", 1)[0]
    return prefix.endswith("_bn") or prefix.endswith(".bn")


def fold_batchnorm(sd: dict[str, torch.Tensor], eps: float = 1e-5) -> dict[str, torch.Tensor]:
    """Folds each `<conv>_bn` / `<layer>.bn` BatchNorm into the conv before it.

    w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta.
    """
    out = {}
    for key, value in sd.items():
        if not key.endswith(".weight") and not key.endswith(".bias"):
            continue
        prefix, kind = key.rsplit(".", 1)
        if prefix.endswith("_bn") or prefix.endswith(".bn"):
            continue
        bn_prefix = prefix[: -len(".conv")] + ".bn" if prefix.endswith(".conv") else prefix + "_bn"
        if bn_prefix + ".running_var" in sd:
            gamma = sd[bn_prefix + ".weight"].double()
            beta = sd[bn_prefix + ".bias"].double()
            mean = sd[bn_prefix + ".running_mean"].double()
            scale = gamma / torch.sqrt(sd[bn_prefix + ".running_var"].double() + eps)
            if kind == "weight":
                folded = value.double() * scale.view(-1, 1, 1, 1)
            else:
                folded = (value.double() - mean) * scale + beta
            value = folded.to(value.dtype)
        out[_contract_name(key)] = value
    return out


def load_reference_state_dict(model: TinySSD, tensors: dict[str, torch.Tensor]) -> None:
    """Loads contract-named tensors (e.g. from a model file) into `model`.

    BN layers, if any, get identity statistics (gamma 1, beta 0, mean 0, var 1 - eps), so in
    eval mode the model computes exactly the file's function; in training mode BN uses
    batch statistics, so training restarts near, not at, that function.
    """
    own = model.state_dict()
    conv_keys = [k for k in own if not _is_bn_key(k)]
    expected = {_contract_name(k) for k in conv_keys}
    if set(tensors) != expected:
        raise ValueError(f"weight names do not match the model: missing {sorted(expected - set(tensors))[:5]}, "
                         f"unexpected {sorted(set(tensors) - expected)[:5]}")
    state = {k: tensors[_contract_name(k)].to(own[k].dtype) for k in conv_keys}
    identity = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0 - 1e-5}
    for key in own:
        if _is_bn_key(key):
            kind = key.rsplit(".", 1)[1]
            state[key] = torch.full_like(own[key], identity[kind]) if kind in identity else own[key]
    model.load_state_dict(state)
