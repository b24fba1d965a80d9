"""The OpenAPI document describes exactly the API that answers."""

from __future__ import annotations

import re

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


@pytest.fixture
def spec(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    return resp.get_json()


def _validator(spec, ref):
    registry = Registry().with_resource("urn:spec", Resource(spec, specification=DRAFT202012))
    schema = {"$ref": f"urn:spec#/components/schemas/{ref}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_paths_match_the_routes(app, spec):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.rule != "/api/v1/openapi.json":
            path = re.sub(r"<[^>]+>", "{id}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    documented = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert documented == routes
    assert spec["openapi"].startswith("3.")


@pytest.mark.parametrize(
    "name,title", [("countries", "Country"), ("cities", "City"), ("users", "User")]
)
def test_responses_validate_against_the_schemas(client, spec, auth_header, name, title):
    page = client.get(f"/api/v1/{name}?rows=100").get_json()
    _validator(spec, f"{title}Page").validate(page)
    one = client.get(f"/api/v1/{name}/1").get_json()
    _validator(spec, title).validate(one)
    error = client.get(f"/api/v1/{name}/0").get_json()
    _validator(spec, "Error").validate(error)


def test_input_schema_matches_validation(spec):
    country_in = _validator(spec, "CountryInput")
    country_in.validate({"countryname": "X", "countrycode": "Y"})
    with pytest.raises(jsonschema.ValidationError):
        country_in.validate({"countryname": "X" * 256, "countrycode": "Y"})
    with pytest.raises(jsonschema.ValidationError):
        country_in.validate({"countryname": "X", "countrycode": "Y", "capital": "Z"})
    user_in = _validator(spec, "UserInput")
    user_in.validate({"username": "u", "password": "pass-word"})
    with pytest.raises(jsonschema.ValidationError):
        user_in.validate({"username": "u", "password": "pass-word", "enabled": 2})


def test_write_operations_require_basic_auth(spec):
    assert spec["components"]["securitySchemes"]["basicAuth"] == {"type": "http", "scheme": "basic"}
    for item in spec["paths"].values():
        for method, op in item.items():
            if method in ("post", "put", "delete"):
                assert op["security"] == [{"basicAuth": []}]
                assert "401" in op["responses"]
            elif method == "get":
                assert "security" not in op
