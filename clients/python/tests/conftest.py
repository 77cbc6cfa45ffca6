"""Makes ``engage_client`` importable from the source tree (``python3 -m pytest clients/python/tests`` from
the repository root works without installing the package) and holds the live-server fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))
