"""Tests of training/net/."""
