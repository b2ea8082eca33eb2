"""Health probers (HTTP, TCP, DNS, TLS) and a scheduler; independent of gtm."""
