"""Validate JSON that finconn returns against Stripe's OpenAPI subset.

The contract is ``../shared/reference/stripe-fc-openapi.json`` (relative to the
repository root). Two adjustments are applied to a copy of its schemas before
validating, both described in ``shared/README.md`` and
``reference/financial-connections-api.md`` §9:

* Stripe writes nullable references as ``{"anyOf": [...], "nullable": true}``
  with no sibling ``type``. OpenAPI 3.0 validators read that as "null not
  allowed"; Stripe means null is allowed. Every such ``anyOf`` gets an extra
  ``{"enum": [null]}`` branch.
* ``strict=True`` (the default) also adds ``additionalProperties: false`` to
  every object schema that lists ``properties`` and says nothing about
  additional ones, so a field the spec does not know (a typo, an invented
  field) is reported instead of silently accepted. Stubs (schemas with no
  ``properties``) stay open.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any, Iterable

from openapi_schema_validator import OAS30Validator

REPO_ROOT = Path(__file__).resolve().parents[3]
SPEC_PATH = Path(
    os.environ.get(
        "FINCONN_OPENAPI_SPEC",
        REPO_ROOT / ".." / "shared" / "reference" / "stripe-fc-openapi.json",
    )
).resolve()
FIXTURES_DIR = SPEC_PATH.parent / "fixtures"


@functools.lru_cache(maxsize=1)
def load_spec() -> dict:
    with open(SPEC_PATH, encoding="utf-8") as f:
        return json.load(f)


def _fix_nullable_anyof(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("anyOf"), list):
            if {"enum": [None]} not in node["anyOf"]:
                node["anyOf"].append({"enum": [None]})
        for value in node.values():
            _fix_nullable_anyof(value)
    elif isinstance(node, list):
        for value in node:
            _fix_nullable_anyof(value)


def _close_objects(node: Any) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


# Stripe's relink preview (API 2026-01-28.preview, docs.stripe.com/financial-connections/relink), which the GA
# spec subset does not have: finconn returns these fields, typed here exactly as the preview documents them.
_NULLABLE_ID = {"type": "string", "nullable": True, "maxLength": 5000}
PREVIEW_PROPERTIES = {
    "financial_connections.account": {"authorization": {"type": "string", "maxLength": 5000}},
    "bank_connections_resource_account_status_details": {
        "inactive": {
            "type": "object",
            "properties": {"action": {"type": "string", "enum": ["none", "relink_required"]}},
            "required": ["action"],
        },
    },
    "financial_connections.session": {
        "relink_options": {
            "type": "object",
            "properties": {"account": _NULLABLE_ID, "authorization": {"type": "string", "maxLength": 5000}},
            "required": ["authorization"],
        },
        "relink_result": {
            "type": "object",
            "nullable": True,
            "properties": {
                "account": _NULLABLE_ID,
                "authorization": _NULLABLE_ID,
                "failure_reason": {
                    "type": "string",
                    "nullable": True,
                    "enum": ["no_account", "no_authorization", "other", None],
                },
            },
            "required": ["account", "authorization", "failure_reason"],
        },
    },
}


@functools.lru_cache(maxsize=2)
def _components(strict: bool) -> dict:
    components = copy.deepcopy(load_spec()["components"])
    for name, props in PREVIEW_PROPERTIES.items():
        components["schemas"][name]["properties"].update(copy.deepcopy(props))
    _fix_nullable_anyof(components)
    if strict:
        _close_objects(components)
    return components


def schema_names() -> list[str]:
    return sorted(load_spec()["components"]["schemas"])


@functools.lru_cache(maxsize=256)
def _validator(ref: str, strict: bool) -> OAS30Validator:
    root = {"$ref": ref, "components": _components(strict)}
    return OAS30Validator(root)


def _ref_for(schema: str) -> str:
    if schema.startswith("#/"):
        return schema
    if schema not in load_spec()["components"]["schemas"]:
        raise KeyError(f"no schema {schema!r} in {SPEC_PATH}")
    return f"#/components/schemas/{schema}"


def errors(instance: Any, schema: str, *, strict: bool = True) -> list[str]:
    """Every validation error, as readable strings (empty when valid)."""
    validator = _validator(_ref_for(schema), strict)
    out = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "<root>"
        out.append(f"{where}: {err.message}")
        # anyOf failures hide the useful detail in the context
        for sub in err.context or ():
            sub_where = "/".join(str(p) for p in sub.absolute_path) or "<root>"
            out.append(f"    {sub_where}: {sub.message}")
    return out


def assert_valid(instance: Any, schema: str, *, strict: bool = True) -> None:
    found = errors(instance, schema, strict=strict)
    if found:
        shown = json.dumps(instance, indent=2, sort_keys=True)
        if len(shown) > 4000:
            shown = shown[:4000] + "\n…"
        raise AssertionError(
            f"object does not match schema {schema!r}"
            f"{' (strict)' if strict else ''}:\n  " + "\n  ".join(found[:30]) + f"\nobject:\n{shown}"
        )


def assert_list_valid(instance: Any, item_schema: str, url: str) -> None:
    """A list envelope: object/data/has_more/url, every item valid."""
    assert isinstance(instance, dict), instance
    assert set(instance) == {"object", "data", "has_more", "url"}, sorted(instance)
    assert instance["object"] == "list"
    assert isinstance(instance["has_more"], bool)
    assert instance["url"] == url, instance["url"]
    assert isinstance(instance["data"], list)
    for item in instance["data"]:
        assert_valid(item, item_schema)


def fixture_files() -> Iterable[Path]:
    return sorted(FIXTURES_DIR.glob("*.json"))


def load_fixture(name: str) -> dict:
    with open(FIXTURES_DIR / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)
