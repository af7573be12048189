"""What every trainer shares (train.py, the lineage, the GPU burst): AdamW and one training step
(optimise), the learning-rate schedules (schedule), CSV logs (csv_log)."""
