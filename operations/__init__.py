"""Day-two operations behind the operator CLI: read-only views of customers, usage and metering, redrive, flush."""
