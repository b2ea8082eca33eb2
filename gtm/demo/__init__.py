"""``gtm demo``: simulated sites as real processes, and the scenario played against them."""
