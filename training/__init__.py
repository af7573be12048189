"""PyTorch training side of tinyssd, in the layout of torchvision's detection references.

    net/      the network and its pieces: architecture, model, priors, box coder, loss, EMA,
              batch-norm calibration, the model file
    data/     VOC records and the image cache, augmentation (CPU and GPU), datasets and
              samplers, the GPU pack
    engine/   what every trainer shares: AdamW, the loader, one step, the LR schedules, CSV logs
    lineage/  the training lineage: state, trainer, process control, CLI, ranks, record, A/B
              branches, the GPU burst (`python -m training.lineage`)
    train.py, evaluate.py, export.py, golden.py, bench_*.py: the command-line entry points

Each package imports only from those above it in this list. Run modules from the repository
root, e.g. `python -m training.train --help`.
"""
