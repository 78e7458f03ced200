"""Every AWS service and operation the emulator serves: one line each. An operation of a known service that is not
listed answers ``UnknownOperationException``, for the reason ``NOT_SERVED`` gives (``CONFORMANCE.md`` lists them all,
generated from botocore's models by ``make docs``)."""

from __future__ import annotations

from . import (
    agreement_entitlements,
    agreement_terms,
    billing_adjustments,
    cancellations,
    cloudtrail,
    entitlement,
    invoices,
    metering,
)
from .operation import AGREEMENT, CLOUDTRAIL, ENTITLEMENT, METERING, Operation, Service

SERVICES = {
    service.name: service
    for service in (
        Service(METERING, metering.validation_error),
        Service(ENTITLEMENT, entitlement.validation_error),
        Service(AGREEMENT, agreement_terms.validation_error, server_fault="InternalServerException"),
        Service(CLOUDTRAIL, cloudtrail.validation_error),
    )
}

OPERATIONS: dict[tuple[str, str], Operation] = {
    (operation.service, operation.name): operation
    for operation in (
        metering.RESOLVE_CUSTOMER,
        metering.BATCH_METER_USAGE,
        metering.METER_USAGE,
        metering.REGISTER_USAGE,
        entitlement.GET_ENTITLEMENTS,
        agreement_terms.GET_AGREEMENT_TERMS,
        agreement_entitlements.GET_AGREEMENT_ENTITLEMENTS,
        cancellations.SEND_AGREEMENT_CANCELLATION_REQUEST,
        invoices.LIST_AGREEMENT_INVOICE_LINE_ITEMS,
        billing_adjustments.BATCH_CREATE_BILLING_ADJUSTMENT_REQUEST,
        billing_adjustments.GET_BILLING_ADJUSTMENT_REQUEST,
        billing_adjustments.LIST_BILLING_ADJUSTMENT_REQUESTS,
        cloudtrail.LOOKUP_EVENTS,
    )
}

# Why a modelled operation is not served, per service.
NOT_SERVED = {
    AGREEMENT: (
        "a SaaS seller's registration and metering read an agreement's terms (GetAgreementTerms) and its licence "
        "(GetAgreementEntitlements), and its operator refunds over-billing (ListAgreementInvoiceLineItems, "
        "BatchCreateBillingAdjustmentRequest, and reading them back where an answer was lost: "
        "GetBillingAdjustmentRequest, ListBillingAdjustmentRequests) and "
        "asks for a test agreement's cancellation (SendAgreementCancellationRequest; the buyer's answer is the admin "
        "API's); its other operations (searching and describing agreements, approvals, the buyer's side of "
        "cancellations, payment requests, purchase orders) are not emulated yet"
    ),
    CLOUDTRAIL: "only the event history of the metering calls received is emulated (LookupEvents)",
}


def operation(service: str, name: str) -> Operation | None:
    """The operation the emulator answers, or None (the HTTP layer answers UnknownOperationException)."""
    return OPERATIONS.get((service, name))
