"""Every AWS Marketplace API the app calls, each behind the port its capability defines; botocore's errors become
the capability's own: ResolveCustomer (``customers``), GetAgreementTerms (``agreements``), BatchMeterUsage
(``metering``), GetEntitlements (``entitlements``)."""
