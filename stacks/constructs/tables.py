"""DynamoDB tables from the shared definitions in stacks/schema.py."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from functions.settings import Settings, settings_environment
from stacks.schema import ALL_TABLES, TableSpec


def _attribute(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class Tables(Construct):
    """One on-demand table per definition: encrypted, point-in-time recovery, retained and protected. The replicated
    ones (the customers table) also live in each of ``replica_regions``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: tuple[TableSpec, ...] = ALL_TABLES,
        replica_regions: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.by_spec: dict[TableSpec, dynamodb.TableV2] = {}
        for spec in specs:
            replicas = [dynamodb.ReplicaTableProps(region=region) for region in replica_regions if spec.replicated]
            table = dynamodb.TableV2(
                self,
                spec.logical_name,
                partition_key=_attribute(spec.partition_key),
                sort_key=_attribute(spec.sort_key) if spec.sort_key else None,
                billing=dynamodb.Billing.on_demand(),
                encryption=dynamodb.TableEncryptionV2.aws_managed_key(),
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                deletion_protection=True,
                removal_policy=RemovalPolicy.RETAIN,
                time_to_live_attribute=spec.ttl_attribute,
                replicas=replicas or None,
                global_secondary_indexes=[
                    dynamodb.GlobalSecondaryIndexPropsV2(
                        index_name=index.name,
                        partition_key=_attribute(index.partition_key),
                        sort_key=_attribute(index.sort_key) if index.sort_key else None,
                    )
                    for index in spec.indexes
                ],
            )
            self.by_spec[spec] = table

    def environment(self) -> dict[str, str]:
        """The table-name variables every function reads through functions.settings."""
        names: dict[str, Any] = {spec.settings_field: table.table_name for spec, table in self.by_spec.items()}
        return settings_environment(Settings(**names), only=names)
