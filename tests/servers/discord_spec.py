"""Request bodies checked against Discord's own OpenAPI 3.1 spec (conformance/discord-api-spec).

`DiscordSpec.check(schema_name, body)` validates a JSON body against a named component schema
(`IncomingWebhookRequestPartial`, `MessageCreateRequest`) with `jsonschema` (draft 2020-12, the
dialect of OpenAPI 3.1), resolving `$ref`s inside the spec, and also refuses properties the
schema does not declare: Discord ignores them, but a field it ignores (a `nonce` on a webhook)
is a field that does nothing, which a test should see. Problems come back as Discord's
`Invalid Form Body` error tree.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:discord-openapi-v10"


class DiscordSpec:
    def __init__(self, path: Path) -> None:
        self.doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, Resource.from_contents(self.doc, default_specification=DRAFT202012)
        )
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    @cache
    def load(cls, path: Path) -> DiscordSpec:
        return cls(path)

    def properties(self, name: str) -> set[str]:
        return set(self.doc["components"]["schemas"][name].get("properties", {}))

    def check(self, name: str, body: Any) -> dict[str, Any]:
        """The `errors` tree of Discord's 50035 answer for `body`; {} when it fits."""
        if name not in self._validators:
            ref = f"{SPEC_URI}#/components/schemas/{name}"
            self._validators[name] = Draft202012Validator({"$ref": ref}, registry=self.registry)
        tree: dict[str, Any] = {}
        for error in self._validators[name].iter_errors(body):
            _add(tree, [str(p) for p in error.absolute_path], "BASE_TYPE_INVALID", error.message)
        if isinstance(body, dict):
            for unknown in sorted(set(body) - self.properties(name)):
                _add(tree, [unknown], "UNKNOWN_FIELD", f"{unknown} is not a field of {name}")
        return tree


def _add(tree: dict[str, Any], path: list[str], code: str, message: str) -> None:
    node = tree
    for part in path:
        node = node.setdefault(part, {})
    node.setdefault("_errors", []).append({"code": code, "message": message})
