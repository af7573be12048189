"""PyTorch training side of tinyssd: model, data, training, evaluation and export.

Run modules from the repository root, e.g. `python -m training.train --help`.
"""
