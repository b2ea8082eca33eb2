"""The test bed: real servers (BIND, HAProxy, moto) and free ports for the tests, benchmarks
and examples.

It is not part of the installed package (``pip install .`` ships ``gtm`` and
``healthchecks`` only) and nothing under ``gtm/`` imports it; an editable install puts the
checkout on the path, so the development venv imports it from anywhere.
"""
