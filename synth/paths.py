"""Where the project is: the folder holding `Pulumi.yaml`, `__main__.py` and the stack files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
