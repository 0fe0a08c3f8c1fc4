"""Readable differences between two versions of a record (for history views)."""

import json

import attrs

_SKIP = {"version", "replaces", "created", "note"}


@attrs.frozen
class Change:
    field: str
    old: object
    new: object

    def describe(self) -> str:
        if self.old is None:
            return f"{self.field} added: {_show(self.new)}"
        if self.new is None:
            return f"{self.field} removed (was {_show(self.old)})"
        return f"{self.field}: {_show(self.old)} → {_show(self.new)}"


def _show(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."


def _flatten(value, prefix, out):
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = value
    return out


def diff_records(old: dict | None, new: dict) -> list[Change]:
    """Field-level changes from ``old`` to ``new`` (record dicts), in a stable order."""
    if old is None:
        return []
    before = _flatten({k: v for k, v in old.items() if k not in _SKIP}, "", {})
    after = _flatten({k: v for k, v in new.items() if k not in _SKIP}, "", {})
    return [Change(key, before.get(key), after.get(key)) for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)]
