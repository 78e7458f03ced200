"""The one stack: small constructs, one per capability."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.lambda_code import dependencies_layer, function_code
from stacks.constructs.tables import Tables


class MeteringStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.tables = Tables(self, "Tables")
        self.code = function_code()
        self.layer = dependencies_layer(self)
