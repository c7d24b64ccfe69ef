"""``python -m sdcheck.baseline``: regenerate sdcheck/baseline/precompiled.py after editing a bundled baseline."""

import os

from sdcheck.baseline.bundled import compiled_module

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "precompiled.py"), "w",
          encoding="utf-8") as fh:
    fh.write(compiled_module())
