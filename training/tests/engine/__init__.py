"""Tests of training/engine/."""
