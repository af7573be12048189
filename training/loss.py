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
    num_priors = priors.shape[0]
    if gt_boxes.numel() == 0:
        return torch.zeros(num_priors, 4), torch.zeros(num_priors, dtype=torch.int64)
    overlaps = iou(gt_boxes, cxcywh_to_xyxy(priors))  # [G, P]
    best_gt_overlap, best_gt = overlaps.max(dim=0)
    best_prior = overlaps.argmax(dim=1)
    # Force each ground truth's best prior to it (later ground truths win ties, as in SSD).
    best_gt_overlap[best_prior] = 2.0
    best_gt[best_prior] = torch.arange(len(best_prior))
    labels = gt_labels[best_gt].clone()
    labels[best_gt_overlap < threshold] = 0
    return encode(gt_boxes[best_gt], priors), labels


def multibox_loss(loc_pred: torch.Tensor, conf_pred: torch.Tensor, loc_target: torch.Tensor,
                  conf_target: torch.Tensor, negatives_per_positive: int = NEGATIVES_PER_POSITIVE):
    """Returns (loc loss, conf loss), each summed and divided by the number of positives in the batch.

    loc_pred [N, P, 4], conf_pred [N, P, C] logits, loc_target [N, P, 4], conf_target [N, P].
    Negatives: per image, the 3 x num_pos background priors with the highest CE loss.
    """
    positive = conf_target > 0
    num_pos = positive.sum(dim=1, keepdim=True)
    normaliser = num_pos.sum().clamp(min=1).float()
    loc_loss = F.smooth_l1_loss(loc_pred[positive].float(), loc_target[positive], reduction="sum")
    ce = F.cross_entropy(conf_pred.float().flatten(0, 1), conf_target.flatten(), reduction="none").view_as(conf_target)
    with torch.no_grad():
        negative_loss = ce.masked_fill(positive, float("-inf"))
        order = negative_loss.argsort(dim=1, descending=True)
        rank = order.argsort(dim=1)
        # positives rank last (-inf), so `& ~positive` only matters when negatives run out
        negative = (rank < negatives_per_positive * num_pos) & ~positive
    conf_loss = ce[positive | negative].sum()
    return loc_loss / normaliser, conf_loss / normaliser
