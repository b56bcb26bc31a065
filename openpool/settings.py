"""The one place that reads the environment.

Variable names and defaults of the system we replace keep working (S3_BUCKET, POOL_COMMISSION_RATE, ...);
our own additions carry the OPENPOOL_ prefix. Values from the process environment win over
`.openpool/stack.env`, which `openpool stack up` writes for the local stack.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from eth_utils.address import is_address, to_checksum_address
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

STACK_ENV_FILE = Path(".openpool/stack.env")


class SettingsError(ValueError):
    """Invalid configuration, naming the environment variable at fault (never its secret value)."""


def _env(name: str, *legacy: str) -> Any:
    return AliasChoices(name, *legacy)


PositiveInt = Annotated[int, Field(gt=0)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=STACK_ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=True,
        populate_by_name=False,
        frozen=True,
    )

    # --- S3 (names and defaults of the predecessor) ---
    s3_bucket: str = Field("raw-events", validation_alias=_env("S3_BUCKET"), min_length=3)
    s3_metrics_bucket: str = Field("open-pool-metrics", validation_alias=_env("S3_METRICS_BUCKET"), min_length=3)
    s3_endpoint: str = Field("https://obj-store-console.xode.app/", validation_alias=_env("S3_ENDPOINT"))
    s3_archive_bucket: str | None = Field(None, validation_alias=_env("S3_ARCHIVE_BUCKET"))
    s3_archive_prefix: str = Field("archive/", validation_alias=_env("S3_ARCHIVE_PREFIX"))
    s3_delete_after_archive: bool = Field(False, validation_alias=_env("OPENPOOL_S3_DELETE_AFTER_ARCHIVE"))
    aws_access_key_id: SecretStr = Field(SecretStr("openpool"), validation_alias=_env("AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: SecretStr = Field(SecretStr("openpool"), validation_alias=_env("AWS_SECRET_ACCESS_KEY"))
    aws_region: str = Field("us-east-1", validation_alias=_env("AWS_REGION"))
    max_files_per_batch: PositiveInt = Field(250, validation_alias=_env("MAX_FILES_PER_BATCH"))
    s3_sensor_interval_seconds: float = Field(300.0, gt=0, validation_alias=_env("S3_SENSOR_INTERVAL_SECONDS"))

    # --- Ethereum / payments (names and defaults of the predecessor) ---
    eth_rpc_endpoint: str = Field("https://arb1.arbitrum.io/rpc", validation_alias=_env("ETH_RPC_ENDPOINT"))
    eth_private_key: SecretStr | None = Field(None, validation_alias=_env("ETH_PRIVATE_KEY"))
    eth_keystore_password: SecretStr | None = Field(None, validation_alias=_env("ETH_KEYSTORE_PASSWORD"))
    payment_threshold_wei: int = Field(10**16, ge=0, validation_alias=_env("PAYMENT_THRESHOLD_WEI"))
    max_gas_price_wei: PositiveInt = Field(5_000_000_000_000, validation_alias=_env("MAX_GAS_PRICE_WEI"))
    gas_limit: PositiveInt = Field(1_000_000, validation_alias=_env("GAS_LIMIT"))
    chain_id: PositiveInt = Field(42161, validation_alias=_env("CHAIN_ID"))
    pool_commission_rate: Decimal = Field(Decimal("0.25"), ge=0, le=1, validation_alias=_env("POOL_COMMISSION_RATE"))
    payment_sensor_interval_seconds: float = Field(
        14400.0, gt=0, validation_alias=_env("PAYMENT_SENSOR_INTERVAL_SECONDS")
    )
    payout_max_wei: PositiveInt = Field(10**18, validation_alias=_env("OPENPOOL_PAYOUT_MAX_WEI"))
    payout_daily_budget_wei: int | None = Field(None, gt=0, validation_alias=_env("OPENPOOL_PAYOUT_DAILY_BUDGET_WEI"))
    payouts_enabled: bool = Field(False, validation_alias=_env("OPENPOOL_PAYOUTS_ENABLED"))
    payouts_kill_switch: bool = Field(False, validation_alias=_env("OPENPOOL_PAYOUTS_KILL_SWITCH"))
    payout_priority_fee_wei: int = Field(0, ge=0, validation_alias=_env("OPENPOOL_PAYOUT_PRIORITY_FEE_WEI"))
    payout_replace_after_seconds: float = Field(
        120.0, gt=0, validation_alias=_env("OPENPOOL_PAYOUT_REPLACE_AFTER_SECONDS")
    )
    payer_address: str | None = Field(None, validation_alias=_env("OPENPOOL_PAYER_ADDRESS"))
    payout_receipt_timeout_seconds: float = Field(
        600.0, gt=0, validation_alias=_env("OPENPOOL_PAYOUT_RECEIPT_TIMEOUT_SECONDS")
    )
    payout_max_replacements: int = Field(3, ge=0, validation_alias=_env("OPENPOOL_PAYOUT_MAX_REPLACEMENTS"))
    payout_poll_interval_seconds: float = Field(
        0.5, gt=0, validation_alias=_env("OPENPOOL_PAYOUT_POLL_INTERVAL_SECONDS")
    )
    payout_audit_prefix: str = Field("payments/audit/", validation_alias=_env("OPENPOOL_PAYOUT_AUDIT_PREFIX"))

    # --- Kafka and the stream app ---
    kafka_bootstrap_servers: str = Field("127.0.0.1:19092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS"))
    app_id: str = Field("openpool", pattern=r"^[A-Za-z0-9._-]{1,100}$", validation_alias=_env("OPENPOOL_APP_ID"))
    data_dir: Path = Field(Path(".openpool/data"), validation_alias=_env("OPENPOOL_DATA_DIR"))
    events_partitions: PositiveInt = Field(8, validation_alias=_env("OPENPOOL_EVENTS_PARTITIONS"))
    worker_partitions: PositiveInt = Field(8, validation_alias=_env("OPENPOOL_WORKER_PARTITIONS"))
    topic_replication_factor: PositiveInt = Field(1, validation_alias=_env("OPENPOOL_REPLICATION_FACTOR"))
    correlation_ttl_seconds: float = Field(3600.0, gt=0, validation_alias=_env("OPENPOOL_CORRELATION_TTL_SECONDS"))
    correlation_match_window_seconds: float = Field(
        600.0, gt=0, validation_alias=_env("OPENPOOL_CORRELATION_MATCH_WINDOW_SECONDS")
    )
    performance_windows_seconds: tuple[int, ...] = Field(
        (3600, 86400), validation_alias=_env("OPENPOOL_PERFORMANCE_WINDOWS_SECONDS")
    )
    export_interval_seconds: float = Field(300.0, gt=0, validation_alias=_env("OPENPOOL_EXPORT_INTERVAL_SECONDS"))
    kafka_session_timeout_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("OPENPOOL_KAFKA_SESSION_TIMEOUT_SECONDS")
    )
    kafka_heartbeat_interval_seconds: float = Field(
        3.0, gt=0, validation_alias=_env("OPENPOOL_KAFKA_HEARTBEAT_INTERVAL_SECONDS")
    )
    web_port: int = Field(6066, ge=0, le=65535, validation_alias=_env("OPENPOOL_WEB_PORT"))
    metrics_port: int = Field(9464, ge=0, le=65535, validation_alias=_env("OPENPOOL_METRICS_PORT"))

    @field_validator("pool_commission_rate", mode="before")
    @classmethod
    def _rate_from_text(cls, value: object) -> object:
        # A float would carry binary noise into every commission; read the text as written.
        if isinstance(value, float):
            return Decimal(repr(value))
        return value

    @field_validator("s3_archive_bucket", "payer_address", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `S3_ARCHIVE_BUCKET=` in an env file or a ConfigMap means "no archive", not a bucket named "".
        return None if value == "" else value

    @field_validator("payer_address")
    @classmethod
    def _checksummed(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not is_address(value):
            raise ValueError("is not a 20-byte hex Ethereum address")
        return to_checksum_address(value)

    @field_validator("performance_windows_seconds", mode="before")
    @classmethod
    def _windows_from_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        return value

    @cached_property
    def topics(self) -> TopicNames:
        return TopicNames(self.app_id)


class TopicNames:
    """One naming scheme for every topic and consumer group: all carry the app id as prefix."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id

    @property
    def events(self) -> str:
        return f"{self.app_id}.events"

    @property
    def dead_letters(self) -> str:
        return f"{self.app_id}.dead-letters"

    @property
    def bridge_progress(self) -> str:
        return f"{self.app_id}.bridge-progress"

    @property
    def payout_wal(self) -> str:
        return f"{self.app_id}.payout-wal"

    @property
    def attributed_jobs(self) -> str:
        return f"{self.app_id}.attributed-jobs"

    @property
    def earnings(self) -> str:
        return f"{self.app_id}.earnings"

    @property
    def connections(self) -> str:
        return f"{self.app_id}.connections"

    @property
    def performance(self) -> str:
        return f"{self.app_id}.performance"

    @property
    def pool_totals(self) -> str:
        return f"{self.app_id}.pool-totals"

    @property
    def bridge_group(self) -> str:
        return f"{self.app_id}-bridge"


def _env_name(settings_cls: type[BaseSettings], field_name: str) -> str:
    field = settings_cls.model_fields.get(field_name)
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        first = field.validation_alias.choices[0]
        if isinstance(first, str):
            return first
    return field_name.upper()


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; fail with a message naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        # Values are never echoed: a secret pasted into the wrong variable would be printed.
        problems = []
        for item in error.errors():
            field_name = str(item["loc"][0]) if item["loc"] else "?"
            name = _env_name(Settings, field_name) if field_name in Settings.model_fields else field_name
            problems.append(f"{name}: {item['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
