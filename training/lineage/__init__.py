"""The training lineage that every working period continues (`python -m training.lineage`, see cli):
its state file (state), trainer (trainer), process control (process), data-parallel ranks (ranks),
record and model card (record), A/B branches (branch) and the GPU burst (gpu_burst)."""
