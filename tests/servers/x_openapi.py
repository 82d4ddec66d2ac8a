"""Request validation against X's own OpenAPI spec (conformance/x-openapi/openapi.json, 2.167).

`XSpec.check(method, path, query, body)` finds the operation whose path template
matches, then checks the path and query parameters (unknown query parameters are
refused, as X does), and a JSON or multipart body against the operation's request
schema with `jsonschema`, resolving `$ref`s inside the spec document. It returns the
problems as X-style `errors[].message` strings; an empty list means the request fits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.servers.base import Response

SPEC_URI = "urn:x-openapi-2.167"
PROBLEMS = "https://api.twitter.com/2/problems/"
"""Problem type URIs as observed in real answers (the spec says https://api.x.com/2/problems/)."""


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return str(self.spec.get("operationId", ""))


class XSpec:
    def __init__(self, path: Path) -> None:
        self.doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, Resource.from_contents(self.doc, default_specification=DRAFT7)
        )
        self._validators: dict[str, Draft7Validator] = {}

    @classmethod
    @cache
    def load(cls, path: Path) -> XSpec:
        """One parsed spec per file for the whole test session (validators are cached on it)."""
        return cls(path)

    @property
    def version(self) -> str:
        return str(self.doc["info"]["version"])

    @cached_property
    def operations(self) -> list[Operation]:
        found = []
        for template, item in self.doc["paths"].items():
            parts = re.split(r"(\{[^}]+\})", template)
            regex = "".join(
                f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts
            )
            for method, spec in item.items():
                if method in ("get", "post", "put", "delete", "patch"):
                    found.append(Operation(method.upper(), template, re.compile(f"^{regex}$"), spec))
        # literal paths before templated ones (`/2/media/upload/initialize` before `/{id}/...`)
        return sorted(found, key=lambda o: o.template.count("{"))

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for operation in self.operations:
            found = operation.pattern.match(path)
            if operation.method == method and found:
                return operation, found.groupdict()
        return None

    def schema(self, ref: str) -> dict[str, Any]:
        node: Any = self.doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return dict(node)

    def validator(self, ref: str) -> Draft7Validator:
        if ref not in self._validators:
            self._validators[ref] = Draft7Validator({"$ref": f"{SPEC_URI}{ref}"}, registry=self.registry)
        return self._validators[ref]

    def errors(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        if "$ref" in schema and len(schema) == 1:
            validator = self.validator(schema["$ref"])
        else:  # an inline schema: its `#/...` refs point into the spec document
            anchored = json.loads(json.dumps(schema).replace('"$ref": "#/', f'"$ref": "{SPEC_URI}#/'))
            validator = Draft7Validator(anchored, registry=self.registry)
        messages = []
        for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
            at = "/".join(str(p) for p in error.absolute_path)
            messages.append(f"{where}{'/' + at if at else ''}: {error.message}")
        return messages

    def parameters(self, operation: Operation) -> list[dict[str, Any]]:
        return [self.schema(p["$ref"]) if "$ref" in p else p for p in operation.spec.get("parameters", [])]

    def check(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any = None,
        content_type: str | None = None,
    ) -> list[str]:
        """Problems with a request, by the spec; `body` is decoded JSON or a dict of form fields."""
        found = self.operation(method, path)
        if found is None:
            return [f"no operation {method} {path} in the X API spec {self.version}"]
        operation, path_values = found
        problems = []
        params = self.parameters(operation)
        known = {p["name"] for p in params if p["in"] == "query"}
        problems += [
            f"The query parameter [{name}] is not one of [{','.join(sorted(known))}]"
            for name in query
            if name not in known
        ]
        for param in params:
            where = param["in"]
            raw = path_values.get(param["name"]) if where == "path" else None
            if where == "query" and param["name"] in query:
                values = query[param["name"]]
                if len(values) > 1:
                    problems.append(f"query parameter {param['name']} is repeated")
                raw = values[0]
            if raw is None:
                if param.get("required") and where in ("path", "query"):
                    problems.append(f"the {where} parameter {param['name']} is required")
                continue
            problems += self._param_errors(param, raw)
        problems += self._body_errors(operation, body, content_type)
        return problems

    def _param_errors(self, param: dict[str, Any], raw: str) -> list[str]:
        schema = param.get("schema", {})
        if "$ref" in schema:
            schema = self.schema(schema["$ref"])
        value: Any = raw
        kind = schema.get("type")
        try:
            if kind == "array":
                value = raw.split(",")
                if schema.get("items", {}).get("type") == "integer":
                    value = [int(v) for v in value]
            elif kind == "integer":
                value = int(raw)
        except ValueError:
            return [f"the {param['in']} parameter {param['name']} must be an integer"]
        problems = self.errors(schema, value, f"{param['in']} {param['name']}")
        if schema.get("format") == "date-time":
            try:
                datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                problems.append(f"{param['name']} must be an RFC 3339 date-time")
        return problems

    def _body_errors(self, operation: Operation, body: Any, content_type: str | None) -> list[str]:
        spec = operation.spec.get("requestBody")
        if spec is None:
            return [] if body in (None, b"", {}) else ["this endpoint takes no request body"]
        if body is None:
            return ["a request body is required"] if spec.get("required") else []
        media = (content_type or "").split(";")[0].strip()
        content = spec.get("content", {})
        if media not in content:
            return [f"a {media or 'missing'} body is not accepted here (accepted: {', '.join(content)})"]
        return self.errors(content[media]["schema"], body, "body")


# -- X's problem bodies -------------------------------------------------------------------------


def invalid(*messages: str) -> Response:
    return Response(
        400,
        {
            "errors": [{"parameters": {}, "message": m} for m in messages],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": PROBLEMS + "invalid-request",
        },
    )


def forbidden(detail: str, kind: str = "about:blank", title: str = "Forbidden") -> Response:
    return Response(403, {"detail": detail, "type": kind, "title": title, "status": 403})
