"""Reading the JSON manifests of the project's on-disk formats (index and TFRecord
directories) with errors that name the file and the field at fault."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_format_json(path: Path, expected_format: str, error: type[Exception], missing_hint: str
                     ) -> dict[str, Any]:
    """Loads ``path`` and checks its ``format`` field; raises ``error`` when the file is
    absent (message ends with ``missing_hint``), not JSON, or of another format."""
    if not path.is_file():
        raise error(f"{path}: not found; {missing_hint}")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON ({exc})") from exc
    if manifest.get("format") != expected_format:
        raise error(f"{path}: field 'format' is {manifest.get('format')!r}, expected {expected_format!r}")
    return manifest
