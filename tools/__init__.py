"""Tooling of the repository itself (not shipped, not imported by the app): ``cdk/`` the pinned CDK toolchain,
``private_names`` an import-linter contract ``make lint`` checks."""
