"""Pure decisions: health verdicts, failover policy, mappings. No I/O, no clocks."""
