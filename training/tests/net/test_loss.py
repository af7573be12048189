import math

import torch

from training.net.box_coder import cxcywh_to_xyxy
from training.net.loss import match, match_batch, multibox_loss


def _priors():
    # four priors in a row, and one large prior overlapping the first two
    return torch.tensor([[0.1, 0.1, 0.2, 0.2], [0.3, 0.1, 0.2, 0.2], [0.5, 0.1, 0.2, 0.2], [0.7, 0.1, 0.2, 0.2],
                         [0.2, 0.1, 0.4, 0.2]])


def test_match_best_prior_and_threshold():
    priors = _priors()
    gt = cxcywh_to_xyxy(priors[[0]])  # exactly prior 0; IoU 0.5 with prior 4, 0 with 1..3
    loc_t, labels = match(gt, torch.tensor([7]), priors)
    assert labels.tolist() == [7, 0, 0, 0, 7]
    assert torch.allclose(loc_t[0], torch.zeros(4), atol=1e-5)


def test_match_forces_each_ground_truth_to_its_best_prior_even_below_threshold():
    priors = _priors()
    gt = torch.tensor([[0.62, 0.02, 0.70, 0.10]])  # small box inside prior 3 (IoU 0.16)
    _, labels = match(gt, torch.tensor([3]), priors)
    assert labels.tolist() == [0, 0, 0, 3, 0]


def test_hard_negative_mining_counts_three_negatives_per_positive():
    num_priors = 20
    conf_target = torch.zeros(1, num_priors, dtype=torch.int64)
    conf_target[0, :2] = 5  # 2 positives -> 6 negatives
    conf_pred = torch.zeros(1, num_priors, 21)  # every CE term is log(21)
    # make six specific negatives the hardest: they must be the mined ones
    conf_pred[0, 10:16, 3] = 10.0
    loc = torch.randn(1, num_priors, 4)
    loc_loss, conf_loss = multibox_loss(loc, conf_pred, loc, conf_target)
    hard = -torch.log_softmax(conf_pred[0, 10], dim=-1)[0]
    expected = (2 * math.log(21) + 6 * hard) / 2
    assert loc_loss.item() == 0.0
    assert torch.isclose(conf_loss, expected, rtol=1e-5)


def test_smooth_l1_normalised_by_positives():
    conf_target = torch.tensor([[1, 1, 0, 0, 0, 0, 0, 0]])
    loc_t = torch.zeros(1, 8, 4)
    loc = torch.zeros(1, 8, 4)
    loc[0, 0, 0] = 0.5  # 0.5 * 0.5^2 = 0.125
    loc[0, 1, 1] = 3.0  # |x| - 0.5 = 2.5
    loc[0, 5, 2] = 9.0  # a negative: no loc loss
    loc_loss, _ = multibox_loss(loc, torch.zeros(1, 8, 21), loc_t, conf_target)
    assert torch.isclose(loc_loss, torch.tensor((0.125 + 2.5) / 2))


def test_match_batch_ignores_padding_and_equals_match_per_image():
    priors = _priors()
    images = [cxcywh_to_xyxy(priors[[0, 3]]) + 0.01, torch.tensor([[0.62, 0.02, 0.70, 0.10]]), torch.zeros(0, 4)]
    labels = [torch.tensor([4, 9]), torch.tensor([3]), torch.zeros(0, dtype=torch.int64)]
    # padding that would win every prior if it counted
    gt = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).repeat(3, 2, 1)
    gt_labels = torch.full((3, 2), 17)
    valid = torch.zeros(3, 2, dtype=torch.bool)
    for i, (boxes, lab) in enumerate(zip(images, labels)):
        gt[i, : len(boxes)], gt_labels[i, : len(boxes)], valid[i, : len(boxes)] = boxes, lab, True
    loc_b, conf_b = match_batch(gt, gt_labels, valid, priors)
    for i, (boxes, lab) in enumerate(zip(images, labels)):
        loc, conf = match(boxes, lab, priors)
        assert torch.equal(conf_b[i], conf)
        assert torch.allclose(loc_b[i][conf > 0], loc[conf > 0])
    assert conf_b[2].eq(0).all() and not conf_b.eq(17).any()
    assert conf_b[0, 0] == 4 and conf_b[0, 3] == 9
