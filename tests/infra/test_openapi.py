"""The OpenAPI document (docs/openapi.json) describes the API the stack deploys: the same routes, and SigV4 exactly
where API Gateway demands IAM authorization (what the producer client signs for)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk.assertions import Template

from docs.generate import OPENAPI


def _path(resources: Mapping[str, Any], reference: Any) -> str:
    """The resource path a method's ResourceId names (walking PathPart up to the API's root)."""
    if not isinstance(reference, dict) or "Ref" not in reference:
        return ""  # the root resource (Fn::GetAtt RootResourceId)
    resource = resources[reference["Ref"]]["Properties"]
    return f"{_path(resources, resource['ParentId'])}/{resource['PathPart']}"


def test_the_documented_routes_are_the_deployed_methods_with_their_authorization(template: Template) -> None:
    resources = template.find_resources("AWS::ApiGateway::Resource")
    deployed = {
        (method["Properties"]["HttpMethod"].lower(), _path(resources, method["Properties"]["ResourceId"])): method[
            "Properties"
        ]["AuthorizationType"]
        for method in template.find_resources("AWS::ApiGateway::Method").values()
        if method["Properties"]["HttpMethod"] != "OPTIONS"
    }
    document = json.loads(OPENAPI.read_text())
    documented = {
        (method, path): "AWS_IAM" if operation.get("security") == [{"sigv4": []}] else "NONE"
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert documented == deployed
    assert documented[("post", "/usage")] == "AWS_IAM"
