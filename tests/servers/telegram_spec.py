"""Request checks against the Bot API's own description (conformance/telegram-bot-api-spec/api.json).

`BotApiSpec.check(method, fields, files)` takes a request's fields as they arrived (JSON
values, or the strings of a form, which the Bot API decodes by each field's type: numbers,
`true`/`false`, and JSON for objects and arrays) and returns the decoded fields and the
problems: unknown fields (refused here, where Telegram ignores them, so a misspelt field
fails a test instead of vanishing), missing required ones, and values of the wrong type,
down into the objects the spec describes (`ReplyParameters`, `LinkPreviewOptions`,
`InputMediaPhoto`). An `InputFile` is a multipart part, named by the field itself or by
an `attach://NAME` string.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_SCALARS = {"Integer", "Float", "String", "Boolean", "InputFile"}


class BotApiSpec:
    def __init__(self, path: Path) -> None:
        doc = json.loads(path.read_text(encoding="utf-8"))
        self.version: str = doc["version"]
        self.methods: dict[str, Any] = doc["methods"]
        self.types: dict[str, Any] = doc["types"]

    @classmethod
    @cache
    def load(cls, path: Path) -> BotApiSpec:
        return cls(path)

    def check(
        self, method: str, fields: dict[str, Any], files: set[str], *, form: bool
    ) -> tuple[dict[str, Any], list[str]]:
        spec = self.methods.get(method)
        if spec is None:
            return {}, [f"method {method} is not in Bot API {self.version}"]
        decoded: dict[str, Any] = {}
        problems = self._fields(spec.get("fields", []), fields, files, method, form, decoded)
        return decoded, problems

    def _fields(
        self,
        declared: list[dict[str, Any]],
        given: dict[str, Any],
        files: set[str],
        where: str,
        form: bool,
        out: dict[str, Any],
    ) -> list[str]:
        by_name = {f["name"]: f for f in declared}
        problems = [f"{where}: unknown field {name!r}" for name in given if name not in by_name]
        for name, spec in by_name.items():
            if name not in given:
                if spec["required"] and not ("InputFile" in spec["types"] and name in files):
                    problems.append(f"{where}: field {name!r} is required")
                continue
            value, found = self._value(spec["types"], given[name], files, f"{where}.{name}", form)
            out[name] = value
            problems += found
        return problems

    def _value(
        self, types: list[str], raw: Any, files: set[str], where: str, form: bool
    ) -> tuple[Any, list[str]]:
        """The value decoded by the first of `types` it fits, or the problems of the closest."""
        value = raw
        if form and isinstance(raw, str) and not {"String", "InputFile"} & set(types):
            try:
                value = json.loads(raw)  # numbers, true/false, objects and arrays
            except ValueError:
                return raw, [f"{where}: {raw[:40]!r} is not a {' or '.join(types)}"]
        elif form and isinstance(raw, str) and "Integer" in types and raw.lstrip("-").isdigit():
            value = int(raw)
        attempts: list[list[str]] = []
        for kind in types:
            found = self._fits(kind, value, files, where)
            if not found:
                return value, []
            attempts.append(found)
        return value, min(attempts, key=len)

    def _fits(self, kind: str, value: Any, files: set[str], where: str) -> list[str]:
        if kind.startswith("Array of "):
            if not isinstance(value, list):
                return [f"{where}: expected an array"]
            inner = kind.removeprefix("Array of ")
            return [
                p for n, item in enumerate(value) for p in self._fits(inner, item, files, f"{where}[{n}]")
            ]
        if kind == "Integer":
            ok = isinstance(value, int) and not isinstance(value, bool)
            return [] if ok else [f"{where}: expected an Integer"]
        if kind == "Float":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return [] if ok else [f"{where}: expected a Float"]
        if kind == "Boolean":
            return [] if isinstance(value, bool) else [f"{where}: expected a Boolean"]
        if kind == "String":
            return [] if isinstance(value, str) else [f"{where}: expected a String"]
        if kind == "InputFile":
            name = value.removeprefix("attach://") if isinstance(value, str) else None
            ok = name is not None and value.startswith("attach://") and name in files
            return [] if ok else [f"{where}: expected an uploaded file"]
        described = self.types.get(kind)
        if described is None or kind in _SCALARS:
            return [f"{where}: unknown type {kind}"]
        if not isinstance(value, dict):
            return [f"{where}: expected a {kind} object"]
        problems = self._fields(described.get("fields", []), value, files, where, False, {})
        for spec in described.get("fields", []):  # e.g. InputMediaPhoto.type "must be photo"
            wanted = _must_be(spec["description"])
            if wanted is not None and spec["name"] in value and value[spec["name"]] != wanted:
                problems.append(f"{where}.{spec['name']}: must be {wanted}")
        return problems


def _must_be(description: str) -> str | None:
    marker = ", must be "
    if marker not in description:
        return None
    return description.split(marker, 1)[1].split()[0].rstrip(".,")
