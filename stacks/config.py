"""The seller's configuration (cdk.json context key ``marketplace``), validated at synth with clear errors.

Two kinds of keys: what only the stack uses (its name, Region, schedule, alarms...), checked here; and the settings
every function reads (``functions.settings.STACK_SETTINGS``: products, grace, rate, retention, the final hour...),
checked by building ``functions.settings.Settings`` itself, so a configuration that deploys is one the functions
accept, and a new stack-wide setting is one field there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from functions.customers.model import FINAL_SEND, IN_FLIGHT_MARGIN
from functions.settings import FINAL_USAGE_REQUESTS_EVERY_MINUTES, REGION_NAME, STACK_SETTINGS, InvalidField, Settings
from stacks.schedule import MAX_FLUSH_GAP, longest_gap

PRODUCTION_STAGE = "prod"
# a Lambda layer version's ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>; other partitions too)
LAYER_VERSION_ARN = r"^arn:aws[a-z-]*:lambda:([a-z]{2}(-[a-z]+)+-[0-9]):[0-9]{12}:layer:[A-Za-z0-9_-]{1,140}:[0-9]+$"
FINAL_SEND_SECONDS = int(FINAL_SEND.total_seconds())


class ConfigError(ValueError):
    """The configuration is invalid; the message names each bad field."""


class AppConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stack_name: str = Field(default="MarketplaceMetering", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    # the main stack's Region; outside us-east-1 a small us-east-1 stack forwards Marketplace's events to it
    region: str | None = Field(default=None, pattern=REGION_NAME.pattern)
    # more Regions that meter (BatchMeterUsage's quota and dedup are per Region): each gets a metering stack of its
    # own (usage API, usage and metering tables, flush) reading a replica of the customers table; needs `region`
    regions: tuple[Annotated[str, Field(pattern=REGION_NAME.pattern)], ...] = ()
    flush_schedule: str = Field(default="rate(1 hour)", pattern=r"^(rate|cron)\(.+\)$")
    log_retention_days: int = Field(default=90, ge=1)
    notification_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    # put AWS WAF (managed rule groups, per-IP rate limit) in front of the API
    waf: bool = False
    # alarm when unsent usage is older than this: Marketplace refuses records older than 24 hours
    oldest_unsent_alarm_hours: float = Field(default=6, gt=0, lt=24)
    # functions restored from a snapshot instead of started cold (Lambda SnapStart; see README "Cold starts")
    snap_start: frozenset[Literal["registration", "usage", "flush", "lifecycle"]] = frozenset()
    # OpenTelemetry per Region, off by default: the ARN of the AWS Distro for OpenTelemetry layer for Python on arm64
    # (AWSOpenTelemetryDistroPython) in that Region; every function there gets it and runs under its wrapper, which
    # traces each AWS call into X-Ray (docs/operations.md, "Tracing"). Needs `region`.
    open_telemetry_layers: dict[
        Annotated[str, Field(pattern=REGION_NAME.pattern)], Annotated[str, Field(pattern=LAYER_VERSION_ARN)]
    ] = Field(default_factory=dict)
    # the functions' settings, from the keys of the same names
    settings: Settings

    @model_validator(mode="before")
    @classmethod
    def _settings_from_their_keys(cls, context: Any) -> Any:
        if not isinstance(context, dict) or "settings" in context:
            return context
        settings = {key: context[key] for key in STACK_SETTINGS if key in context}
        stage = context.get("stage")
        if stage is not None and stage != PRODUCTION_STAGE:
            # a staging stack metering a real buyer would bill them twice: it goes live only by saying so
            settings.setdefault("metering_mode", "dry-run")
        return {**{k: v for k, v in context.items() if k not in STACK_SETTINGS}, "settings": settings}

    @field_validator("flush_schedule")
    @classmethod
    def _flush_schedule_within_the_metering_window(cls, schedule: str) -> str:
        try:
            gap = longest_gap(schedule)
        except ValueError as error:
            raise ValueError(f"flush_schedule {schedule}: {error}") from None
        if gap > MAX_FLUSH_GAP:
            hours = MAX_FLUSH_GAP.total_seconds() / 3600
            raise ValueError(
                f"flush_schedule {schedule} leaves {gap} between runs: at most {hours:g} hours, so every hour reaches "
                "Marketplace within its 24 hours even when runs fail (stacks/schedule.py)"
            )
        return schedule

    @model_validator(mode="after")
    def _final_usage_within_the_final_hour(self) -> AppConfig:
        """A leaving buyer's usage is taken until the cutoff, asked for after the delay and sent by their final-usage
        step: all of it within their final hour, or Marketplace refuses it (attack 35: each setting alone was checked,
        and the usage of a final hour that a valid pair ran past was lost)."""
        settings = self.settings
        margin = int(IN_FLIGHT_MARGIN.total_seconds())
        if settings.final_usage_delay_seconds < margin:
            raise ValueError(
                f"final_usage_delay_seconds: at least {margin} (a usage write accepted just before the cutoff may land "
                f"up to {margin} s after it, and the final-usage step must find it)"
            )
        # with other Regions, each sends a leaving buyer's usage up to its schedule's period after the main Region asks
        # (at the cutoff, plus the delay), once its own writes in flight have landed
        sending, what, where = FINAL_SEND_SECONDS, "sending it", ""
        if self.regions:
            sending += FINAL_USAGE_REQUESTS_EVERY_MINUTES * 60 + margin
            what, where = "the other Regions' schedule, writes in flight and sending", "regions: "
        finish = settings.final_usage_cutoff_seconds + settings.final_usage_delay_seconds + sending
        if finish >= 3600:
            raise ValueError(
                f"{where}final_usage_cutoff_seconds + final_usage_delay_seconds + {sending} s ({what}) is {finish} s: "
                "it must be under 3600, the final hour"
            )
        return self

    @model_validator(mode="after")
    def _regions_beside_the_main_one(self) -> AppConfig:
        if not self.regions:
            return self
        if self.region is None:
            raise ValueError("regions: set `region` too (the main stack's, whose customers table they replicate)")
        if self.region in self.regions:
            raise ValueError(f"regions: {self.region} is the main stack's region, which meters already")
        if len(set(self.regions)) != len(self.regions):
            raise ValueError("regions: each Region once")
        return self  # their share of the final hour: _final_usage_within_the_final_hour

    @model_validator(mode="after")
    def _open_telemetry_where_functions_run(self) -> AppConfig:
        if not self.open_telemetry_layers:
            return self
        if self.region is None:
            raise ValueError("open_telemetry_layers: set `region` too (a layer is used only in its own Region)")
        deployed = {self.region, *self.regions}
        for region, arn in self.open_telemetry_layers.items():
            if region not in deployed:
                raise ValueError(
                    f"open_telemetry_layers: {region} runs none of this app's functions (they run in "
                    f"{', '.join(sorted(deployed))})"
                )
            if (layer_region := arn.split(":")[3]) != region:
                raise ValueError(f"open_telemetry_layers.{region}: the layer is in {layer_region}, not {region}")
        return self

    @property
    def deployed_name(self) -> str:
        """The stack's name: ``stack_name``, with the stage when there is one."""
        stage = self.settings.stage
        return f"{self.stack_name}-{stage}" if stage else self.stack_name


def load_config(context: Any) -> AppConfig:
    if not isinstance(context, dict):
        raise ConfigError("cdk.json context 'marketplace' is missing or not an object")
    if not context.get("products"):
        raise ConfigError("invalid cdk.json context 'marketplace':\n  marketplace.products: list at least one product")
    try:
        return AppConfig.model_validate(context)
    except ValidationError as error:
        errors = error.errors()
        # a list whose items failed is also reported as too short; the items' own errors say more
        failed_within = {e["loc"][:depth] for e in errors for depth in range(1, len(e["loc"]))}
        problems = "\n".join(
            _problem(e) for e in errors if not (e["type"] == "too_short" and e["loc"] in failed_within)
        )
        raise ConfigError(f"invalid cdk.json context 'marketplace':\n{problems}") from error


def _problem(error: Any) -> str:
    location, message = [str(part) for part in error["loc"]], error["msg"]
    if location[:1] == ["settings"]:  # cdk.json spells the functions' settings at the top level
        location = location[1:]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, InvalidField):  # a rule of functions.settings: it names the field below the location
        location, message = [*location, *cause.field.replace("[", ".").replace("]", "").split(".")], cause.problem
        location = [part for i, part in enumerate(location) if part and not (i and part == location[i - 1])]
    return f"  marketplace.{'.'.join(location)}: {message}"
