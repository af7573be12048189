import pytest
import torch

from training.net.ema import ModelEMA


def test_ema_decay_ramps_to_its_maximum():
    model = torch.nn.Linear(2, 1)
    ema = ModelEMA(model, max_decay=0.9998)
    assert ema.decay() == pytest.approx(0.1)
    with torch.no_grad():
        model.weight.fill_(1.0)
    before = ema.shadow["weight"].clone()
    ema.update()
    assert torch.allclose(ema.shadow["weight"], before + 0.9 * (1.0 - before))
    assert ModelEMA(model, updates=10 ** 6).decay() == 0.9998
