"""Exponential moving average of a model's weights and batch-norm buffers.

The decay ramps up as (1 + n) / (10 + n) towards its maximum, so the average does not
drag the initial weights along for thousands of steps (the ramp of timm's ModelEmaV2 and
TensorFlow's ExponentialMovingAverage with num_updates).
"""
import torch

DEFAULT_MAX_DECAY = 0.9998


class ModelEMA:
    def __init__(self, model: torch.nn.Module, max_decay: float = DEFAULT_MAX_DECAY, updates: int = 0):
        self.model, self.max_decay, self.updates = model, max_decay, updates
        self.shadow = {k: v.detach().clone().float().contiguous() if v.is_floating_point() else v.detach().clone()
                       for k, v in model.state_dict().items()}
        self._float_keys = [k for k, v in self.shadow.items() if v.is_floating_point()]
        self._other_keys = [k for k, v in self.shadow.items() if not v.is_floating_point()]

    def decay(self) -> float:
        return min(self.max_decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        weight = 1.0 - self.decay()
        live = self.model.state_dict()
        torch._foreach_lerp_([self.shadow[k] for k in self._float_keys],
                             [live[k].detach().float() for k in self._float_keys], weight)
        for k in self._other_keys:
            self.shadow[k].copy_(live[k])
        self.updates += 1

    def load_shadow(self, tensors: dict[str, torch.Tensor], updates: int) -> None:
        if set(tensors) != set(self.shadow):
            raise ValueError("EMA tensors do not match the model's state")
        for k, v in tensors.items():
            self.shadow[k].copy_(v)
        self.updates = updates
