"""The TypedDicts against the OpenAPI document's schemas: a field added, dropped or made
optional there fails here."""
from __future__ import annotations

import json
import os
from typing import Any

import pytest

from conftest import REPO
import jobcast

SCHEMAS = json.load(open(os.path.join(REPO, "src", "http", "openapi.json")))["components"]["schemas"]


@pytest.mark.parametrize(
    "name",
    ["Job", "Attempt", "LogLine", "JobPage", "Upload", "JobType", "ProgressEvent", "CompletedEvent", "FailedEvent", "JobEvent"],
)
def test_each_typed_dict_has_the_schemas_fields_required_as_there(name: str) -> None:
    schema = SCHEMAS[name]
    typed: Any = getattr(jobcast, name)
    assert set(typed.__required_keys__) == set(schema["required"]), name
    assert set(typed.__optional_keys__) == set(schema["properties"]) - set(schema["required"]), name


def test_claimed_job_is_a_job_and_its_lease() -> None:
    extra = SCHEMAS["ClaimedJob"]["allOf"][1]
    typed: Any = jobcast.ClaimedJob
    assert set(typed.__annotations__) >= set(extra["properties"])
    assert set(extra["required"]) <= set(typed.__required_keys__) | set(typed.__optional_keys__)


def test_the_literals_are_the_schemas_enums() -> None:
    assert set(jobcast.JobStatus.__args__) == set(SCHEMAS["JobStatus"]["enum"])  # type: ignore[attr-defined]
    assert set(jobcast.LogLevel.__args__) == set(SCHEMAS["LogLevel"]["enum"])  # type: ignore[attr-defined]
    outcomes = SCHEMAS["Attempt"]["properties"]["outcome"]["enum"]
    assert set(jobcast.AttemptOutcome.__args__) == set(outcomes)  # type: ignore[attr-defined]
