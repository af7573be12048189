"""Centre-size box coding with SSD variances, and the one IoU function used everywhere."""
import math

import torch

from .arch import VARIANCES
from .tensor_cache import constant

# Cap on decoded log-scale offsets, so a wild prediction cannot overflow (the Rust
# decoder uses the same cap, torchvision's bbox_xform_clip).
MAX_LOG_SCALE = math.log(1000.0 / 16)


def encode(boxes_xyxy: torch.Tensor, priors_cxcywh: torch.Tensor, variances=VARIANCES) -> torch.Tensor:
    """Matched ground-truth corners -> regression targets (lx, ly, lw, lh)."""
    v0, v1, v2, v3 = variances
    cxcy = (boxes_xyxy[..., :2] + boxes_xyxy[..., 2:]) / 2
    wh = (boxes_xyxy[..., 2:] - boxes_xyxy[..., :2]).clamp(min=1e-6)
    pcxcy, pwh = priors_cxcywh[..., :2], priors_cxcywh[..., 2:]
    lxy = (cxcy - pcxcy) / pwh / constant((v0, v1), boxes_xyxy.dtype, boxes_xyxy.device)
    lwh = torch.log(wh / pwh) / constant((v2, v3), boxes_xyxy.dtype, boxes_xyxy.device)
    return torch.cat([lxy, lwh], dim=-1)


def decode(loc: torch.Tensor, priors_cxcywh: torch.Tensor, variances=VARIANCES) -> torch.Tensor:
    """Regression outputs -> corners (xmin, ymin, xmax, ymax) in the priors' frame."""
    v0, v1, v2, v3 = variances
    pcxcy, pwh = priors_cxcywh[..., :2], priors_cxcywh[..., 2:]
    vxy = constant((v0, v1), loc.dtype, loc.device)
    vwh = constant((v2, v3), loc.dtype, loc.device)
    cxcy = pcxcy + loc[..., :2] * vxy * pwh
    wh = pwh * torch.exp((loc[..., 2:] * vwh).clamp(max=MAX_LOG_SCALE))
    return torch.cat([cxcy - wh / 2, cxcy + wh / 2], dim=-1)


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], dim=-1)


def iou(a_xyxy: torch.Tensor, b_xyxy: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU [..., A, B] of corner boxes [..., A, 4] and [..., B, 4] (leading batch dimensions
    broadcast; continuous coordinates, no +1 pixel term)."""
    lt = torch.maximum(a_xyxy[..., :, None, :2], b_xyxy[..., None, :, :2])
    rb = torch.minimum(a_xyxy[..., :, None, 2:], b_xyxy[..., None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    area_a = (a_xyxy[..., 2:] - a_xyxy[..., :2]).clamp(min=0).prod(dim=-1)
    area_b = (b_xyxy[..., 2:] - b_xyxy[..., :2]).clamp(min=0).prod(dim=-1)
    union = area_a[..., :, None] + area_b[..., None, :] - inter
    return inter / union.clamp(min=1e-12)
