"""Built-in authoritative DNS responder for the service zone."""
