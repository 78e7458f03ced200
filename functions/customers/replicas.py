"""Customers read where they may have just been written elsewhere: in a metering Region other than the main one, the
customers table is a replica of a global table, which replicates within about a second. A buyer who registers in the
main Region and is metered here at once must not be refused as unknown meanwhile: a customer not found is read again,
once, after that second, before it is taken as unknown (only what would be refused waits)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

from functions.customers.model import Customer, CustomerRef, CustomerRepository

# DynamoDB global tables replicate typically within a second (AWS's documentation of global tables)
REPLICATION_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class ReadAgainWhenUnknown:
    """``CustomerRepository`` over another, reading an unknown customer again after ``REPLICATION_WAIT_SECONDS``."""

    customers: CustomerRepository
    pause: Callable[[float], None]

    def get(self, ref: CustomerRef) -> Customer | None:
        return self.get_many([ref])[ref]

    def get_many(self, refs: Collection[CustomerRef]) -> dict[CustomerRef, Customer | None]:
        found = self.customers.get_many(refs)
        unknown = [ref for ref, customer in found.items() if customer is None]
        if unknown:
            self.pause(REPLICATION_WAIT_SECONDS)
            found.update(self.customers.get_many(unknown))
        return found

    def put(self, customer: Customer) -> None:
        self.customers.put(customer)

    def list_all(self) -> Iterator[Customer]:
        return self.customers.list_all()
