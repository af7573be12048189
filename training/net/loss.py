"""SSD matching and MultiBox loss (smooth-L1 + cross-entropy with 3:1 hard-negative mining)."""
import torch
import torch.nn.functional as F

from .box_coder import cxcywh_to_xyxy, encode, iou

MATCH_THRESHOLD = 0.5
NEGATIVES_PER_POSITIVE = 3


def match(gt_boxes: torch.Tensor, gt_labels: torch.Tensor, priors: torch.Tensor,
          threshold: float = MATCH_THRESHOLD) -> tuple[torch.Tensor, torch.Tensor]:
    """Assigns ground truths (normalised corners [G, 4], labels [G] in 1..20) to priors [P, 4] (cx, cy, w, h).

    Each ground truth gets its best prior; then every prior with IoU >= threshold gets
    its best ground truth. Returns (loc targets [P, 4], class targets [P], 0 = background).
    """
    if gt_boxes.numel() == 0:
        return torch.zeros(priors.shape[0], 4), torch.zeros(priors.shape[0], dtype=torch.int64)
    valid = torch.ones(1, len(gt_boxes), dtype=torch.bool)
    loc, labels = match_batch(gt_boxes[None], gt_labels[None], valid, priors, threshold)
    return loc[0], labels[0]


def match_batch(gt_boxes: torch.Tensor, gt_labels: torch.Tensor, valid: torch.Tensor, priors: torch.Tensor,
                threshold: float = MATCH_THRESHOLD) -> tuple[torch.Tensor, torch.Tensor]:
    """`match` for a batch of images at once: ground truths padded to [N, G, 4] / [N, G], `valid` [N, G]
    marks the real ones. Returns (loc targets [N, P, 4], class targets [N, P])."""
    overlaps = iou(gt_boxes, cxcywh_to_xyxy(priors)).masked_fill(~valid[..., None], -1.0)  # [N, G, P]
    best_gt_overlap, best_gt = overlaps.max(dim=1)
    best_prior = overlaps.argmax(dim=2)  # [N, G]
    # Force each ground truth's best prior to it; later ground truths win ties, as in SSD
    # (the largest index among the ground truths that chose the prior; padding never wins).
    gt_index = torch.arange(gt_boxes.shape[1], device=gt_boxes.device).expand_as(best_prior)
    forced = torch.full_like(best_gt, -1).scatter_reduce_(1, best_prior, gt_index.masked_fill(~valid, -1), "amax")
    is_forced = forced >= 0
    best_gt = torch.where(is_forced, forced, best_gt)
    best_gt_overlap = best_gt_overlap.masked_fill(is_forced, 2.0)
    labels = torch.gather(gt_labels, 1, best_gt).masked_fill(best_gt_overlap < threshold, 0)
    matched = torch.gather(gt_boxes, 1, best_gt[..., None].expand(-1, -1, 4))
    return encode(matched, priors), labels


def multibox_loss(loc_pred: torch.Tensor, conf_pred: torch.Tensor, loc_target: torch.Tensor,
                  conf_target: torch.Tensor, negatives_per_positive: int = NEGATIVES_PER_POSITIVE,
                  normaliser: torch.Tensor | None = None):
    """Returns (loc loss, conf loss), each summed and divided by the number of positives in the batch
    (or by `normaliser`: data-parallel ranks divide by a count over all ranks' images).

    loc_pred [N, P, 4], conf_pred [N, P, C] logits, loc_target [N, P, 4], conf_target [N, P].
    Negatives: per image, the 3 x num_pos background priors with the highest CE loss.
    """
    positive = conf_target > 0
    num_pos = positive.sum(dim=1, keepdim=True)
    if normaliser is None:
        normaliser = num_pos.sum().clamp(min=1).float()
    # Masks rather than boolean indexing: same sums, and no device-to-host sync (indexing by a mask must
    # learn its size), so a GPU can queue steps ahead.
    loc_loss = torch.where(positive[..., None], F.smooth_l1_loss(loc_pred.float(), loc_target, reduction="none"), 0).sum()
    ce = F.cross_entropy(conf_pred.float().flatten(0, 1), conf_target.flatten(), reduction="none").view_as(conf_target)
    with torch.no_grad():
        negative_loss = ce.masked_fill(positive, float("-inf"))
        order = negative_loss.argsort(dim=1, descending=True)
        rank = order.argsort(dim=1)
        # positives rank last (-inf), so `& ~positive` only matters when negatives run out
        negative = (rank < negatives_per_positive * num_pos) & ~positive
    conf_loss = torch.where(positive | negative, ce, 0).sum()
    return loc_loss / normaliser, conf_loss / normaliser
