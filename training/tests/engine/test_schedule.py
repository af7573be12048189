import math

import pytest

from training.engine.schedule import Schedule, cooldown_lr, warmup_cosine_lr


def test_schedule_warms_up_once_then_holds_the_peak():
    s = Schedule(peak_lr=2e-3, warmup_start=1000, warmup_images=800, warmup_from=2e-4)
    assert s.lr(1000) == pytest.approx(2e-4)
    assert s.lr(1400) == pytest.approx(1.1e-3)
    assert s.lr(1800) == s.lr(10 ** 9) == 2e-3
    assert cooldown_lr(2e-3, 0, 100) == 2e-3 and cooldown_lr(2e-3, 50, 100) == pytest.approx(1e-3)
    assert cooldown_lr(2e-3, 100, 100) == 0.0


def test_a_planned_run_warms_up_then_decays_by_a_cosine_to_zero():
    """train.py's schedule: 1 % of the rate at the start, the full rate at the end of the warm-up,
    half of it halfway through the decay, zero at the end and after."""
    assert warmup_cosine_lr(0.0, 2e-3, 0.1) == pytest.approx(2e-5)
    assert warmup_cosine_lr(0.05, 2e-3, 0.1) == pytest.approx(2e-3 * (0.01 + 0.99 * 0.5))
    assert warmup_cosine_lr(0.1, 2e-3, 0.1) == pytest.approx(2e-3)
    assert warmup_cosine_lr(0.55, 2e-3, 0.1) == pytest.approx(1e-3)
    assert warmup_cosine_lr(0.1 + 0.9 / 3, 2e-3, 0.1) == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi / 3)))
    assert warmup_cosine_lr(1.0, 2e-3, 0.1) == pytest.approx(0.0, abs=1e-15)
    assert warmup_cosine_lr(1.5, 2e-3, 0.1) == pytest.approx(0.0, abs=1e-15)
