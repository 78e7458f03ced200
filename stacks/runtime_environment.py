"""Environment set on every function (no CDK import here: the cold-start benchmark reads it too)."""

# Pydantic would otherwise scan every installed distribution for plugins on import (~15 ms of each cold
# start); none are used.
RUNTIME_ENVIRONMENT = {"POWERTOOLS_SERVICE_NAME": "marketplace-metering", "PYDANTIC_DISABLE_PLUGINS": "__all__"}
