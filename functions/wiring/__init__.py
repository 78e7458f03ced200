"""Composition roots: the only place that reads settings into AWS clients and adapters and hands them to a
capability. One module per capability, each with one cached ``build(settings, clock=None)``; handlers call it on
their first invocation (nothing is built at import)."""
