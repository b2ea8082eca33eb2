"""The demo: simulated sites, a scenario player, and the pieces tests and benchmarks reuse."""
