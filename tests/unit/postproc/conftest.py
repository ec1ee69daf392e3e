"""Make the slow reference twins (tests/reference) and local helpers importable."""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(__file__)
for _path in (_HERE, os.path.join(_HERE, "..", "..", "reference")):
    _abs = os.path.abspath(_path)
    if _abs not in sys.path:
        sys.path.insert(0, _abs)
