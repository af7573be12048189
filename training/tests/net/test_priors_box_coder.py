import math

import torch

from training.net.box_coder import cxcywh_to_xyxy, decode, encode, iou
from training.net.priors import default_boxes


def test_prior_count_and_hand_checked_values():
    p = default_boxes().double()
    assert p.shape == (8030, 4)
    s = 300.0
    assert torch.allclose(p[0], torch.tensor([4 / s, 4 / s, 30 / s, 30 / s], dtype=torch.float64), atol=1e-7)
    assert torch.allclose(p[1, 2:], torch.full((2,), math.sqrt(30 * 60) / s, dtype=torch.float64), atol=1e-7)
    assert torch.allclose(p[2, 2:], torch.tensor([30 * math.sqrt(2) / s, 30 / math.sqrt(2) / s], dtype=torch.float64), atol=1e-7)
    assert torch.allclose(p[3, 2:], torch.tensor([30 / math.sqrt(2) / s, 30 * math.sqrt(2) / s], dtype=torch.float64), atol=1e-7)
    # second cell of fire4 is one step to the right (column j = 1)
    assert torch.allclose(p[4, :2], torch.tensor([12 / s, 4 / s], dtype=torch.float64), atol=1e-7)
    # first fire8 box, and the fire8 box of row 1, column 0, ratio 3 (index 4)
    f8 = 37 * 37 * 4
    assert torch.allclose(p[f8], torch.tensor([8 / s, 8 / s, 60 / s, 60 / s], dtype=torch.float64), atol=1e-7)
    assert torch.allclose(p[f8 + 18 * 6 + 4], torch.tensor([8 / s, 24 / s, 60 * math.sqrt(3) / s, 60 / math.sqrt(3) / s],
                                                           dtype=torch.float64), atol=1e-7)
    # last box: conv13_2, centre of the frame, flip of ratio 2; not clipped (height > 1)
    assert torch.allclose(p[-1], torch.tensor([0.5, 0.5, 264 / math.sqrt(2) / s, 264 * math.sqrt(2) / s], dtype=torch.float64), atol=1e-7)


def test_encode_decode_round_trip():
    priors = default_boxes()[::97]
    torch.manual_seed(0)
    xy = torch.rand(len(priors), 2) * 0.6
    boxes = torch.cat([xy, xy + 0.05 + torch.rand(len(priors), 2) * 0.3], dim=1)
    assert torch.allclose(decode(encode(boxes, priors), priors), boxes, atol=1e-5)


def test_decode_uses_the_variances():
    prior = torch.tensor([[0.5, 0.5, 0.2, 0.4]])
    loc = torch.tensor([[1.0, -1.0, 0.0, 1.0]])
    # cx = 0.5 + 1*0.1*0.2, cy = 0.5 - 0.1*0.4, w = 0.2, h = 0.4*exp(0.2)
    cx, cy, w, h = 0.52, 0.46, 0.2, 0.4 * math.exp(0.2)
    expected = torch.tensor([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]])
    assert torch.allclose(decode(loc, prior), expected, atol=1e-6)
    assert torch.allclose(cxcywh_to_xyxy(prior), torch.tensor([[0.4, 0.3, 0.6, 0.7]]))


def test_iou_hand_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]])
    assert torch.allclose(iou(a, b), torch.tensor([[1 / 7, 1.0, 0.0]]))
