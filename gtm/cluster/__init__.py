"""Several gtm instances on one Consul cluster: each with its session, one of them leading."""
