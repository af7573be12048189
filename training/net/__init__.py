"""The Tiny SSD network and its pieces: architecture, model, priors, box coder, loss, EMA,
batch-norm calibration and the model file (what torchvision keeps in its library)."""
