"""The event bus the seller's provisioning systems subscribe to: customer registered, activated, ended."""

from __future__ import annotations

from aws_cdk import CfnOutput
from aws_cdk import aws_events as events
from constructs import Construct


class EventBus(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", description="Customer events of the Marketplace integration")
        CfnOutput(self, "EventBusName", value=self.bus.event_bus_name, description="Subscribe rules here")

    def environment(self) -> dict[str, str]:
        return {"EVENT_BUS_NAME": self.bus.event_bus_name}
