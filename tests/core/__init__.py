"""Tests of the pure core: health, sites, policy, model and codec."""
