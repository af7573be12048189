"""Tests of training/lineage/."""
