"""Sidecar HTTP API: resolve, watch, intents, events."""
