"""schema/sandbox-data.schema.json is what editors validate sandbox data files with: check it against real
files with a JSON Schema validator (jsonschema, Draft 2020-12), and that it refuses what finconn refuses."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import tomllib

import jsonschema
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "schema/sandbox-data.schema.json").read_text())
BIN = os.environ.get("FINCONN_BIN", str(ROOT / "target/debug/finconn"))


def as_json(value):
    """A TOML document as an editor's TOML-to-JSON view sees it: dates and date-times become strings."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def validator(schema=SCHEMA):
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_example_and_its_account_file_validate():
    example = as_json(tomllib.loads((ROOT / "examples/sandbox-data.toml").read_text()))
    validator().validate(example)
    account = json.loads((ROOT / "examples/sandbox-data/joint-savings.json").read_text())
    account_schema = {"$ref": "#/$defs/AccountDoc", "$defs": SCHEMA["$defs"]}
    validator(account_schema).validate(account)


def test_the_built_in_catalogue_validates():
    out = subprocess.run([BIN, "sandbox-data", "builtin", "--json"], capture_output=True, check=True, text=True)
    doc = json.loads(out.stdout)
    assert len(doc["institutions"]) == 10
    validator().validate(doc)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["institutions"][0].update(login="fingerprint"),
        lambda d: d["institutions"][0].update(nickname="x"),
        lambda d: d["institutions"][0]["accounts"][0].update(last4=1234),
        lambda d: d["institutions"][0]["accounts"][0]["series"][0].update(kind="lottery"),
        lambda d: d.pop("version"),
    ],
)
def test_what_finconn_refuses_the_schema_refuses_too(mutate, tmp_path):
    doc = as_json(tomllib.loads((ROOT / "examples/sandbox-data.toml").read_text()))
    mutate(doc)
    assert list(validator().iter_errors(doc)), "the schema accepts it"
    # And finconn itself refuses the same document.
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    (tmp_path / "sandbox-data").mkdir()
    (tmp_path / "sandbox-data/joint-savings.json").write_text(
        (ROOT / "examples/sandbox-data/joint-savings.json").read_text())
    out = subprocess.run([BIN, "sandbox-data", "check", str(path)], capture_output=True, text=True)
    assert out.returncode == 1, out
    assert f"{path}:" in out.stderr
