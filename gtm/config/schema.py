"""The JSON schema of the configuration file, for editors and for reviewing changes.

``config/gtm.schema.json`` is generated from the models, never edited: run
``python -m gtm.config.schema > config/gtm.schema.json`` after changing a model.
"""

from __future__ import annotations

import json
import sys

from gtm.config.models import Config


def dump_schema() -> str:
    """The JSON schema of :class:`Config`: sorted keys, two-space indent, final newline."""
    return json.dumps(Config.model_json_schema(), sort_keys=True, indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(dump_schema())
