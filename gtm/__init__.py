"""gtm: a global traffic manager that moves traffic between replicated sites."""

__version__ = "0.1.0"
