import torch

from training.engine.optimise import autocast, bf16_is_native


def test_training_computes_in_bf16_only_where_the_cpu_has_it():
    """An AVX2-only CPU trains 7x slower under bf16 autocast: there the step stays in fp32."""
    conv = torch.nn.Conv2d(3, 4, 3)
    with autocast(torch.device("cpu")):
        out = conv(torch.randn(1, 3, 8, 8))
    assert out.dtype == (torch.bfloat16 if bf16_is_native("cpu") else torch.float32)
    assert bf16_is_native("cuda")
