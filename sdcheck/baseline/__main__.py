"""``python -m sdcheck.baseline``: regenerate sdcheck/baseline/precompiled.py after editing a bundled
baseline, and sdcheck/catalog.py (what ``sdcheck list`` prints) after changing a check or a baseline."""

import os

from sdcheck.baseline.bundled import catalog_module, compiled_module

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "precompiled.py"), "w", encoding="utf-8") as fh:
    fh.write(compiled_module())
with open(os.path.join(os.path.dirname(HERE), "catalog.py"), "w", encoding="utf-8") as fh:
    fh.write(catalog_module())
