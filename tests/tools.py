"""Finding the real tools (PostgreSQL, PgBouncer, promtool, amtool, CRD schemas) that tests drive.

A test that needs a missing tool is skipped with the reason, except under
``REQUIRE_REAL_TOOLS=1`` (set by ``.ci/run``), where a missing tool is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import pytest

REQUIRE_REAL_TOOLS = os.environ.get("REQUIRE_REAL_TOOLS") == "1"
REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = Path(os.environ.get("PLATFORM_SCHEMAS_DIR", REPO_ROOT.parent / "shared" / "schemas"))


def need(ok: object, reason: str) -> None:
    """Skip (or fail, when real tools are required) unless ``ok`` holds."""
    if ok:
        return
    if REQUIRE_REAL_TOOLS:
        pytest.fail(f"{reason} (REQUIRE_REAL_TOOLS=1 makes this a failure)")
    pytest.skip(reason)


def find_tool(name: str, *extra_globs: str) -> str | None:
    """Return the path of ``name`` on PATH or in one of ``extra_globs`` (newest match first)."""
    found = shutil.which(name)
    if found:
        return found
    for pattern in extra_globs:
        matches = sorted(glob.glob(pattern), reverse=True)
        if matches:
            return matches[0]
    return None


def require_tool(name: str, *extra_globs: str) -> str:
    """Path of a real tool, or skip/fail the calling test with the reason."""
    path = find_tool(name, *extra_globs)
    need(path, f"`{name}` is not installed")
    assert path is not None
    return path


def postgres_bin(name: str) -> str:
    """A PostgreSQL server binary (Debian keeps them outside PATH)."""
    return require_tool(name, f"/usr/lib/postgresql/*/bin/{name}")
