"""The payer's key: loaded once from settings, used only to sign, never shown.

ETH_PRIVATE_KEY is either a raw hex key or the path of a JSON keystore (a value ending in `.json`, or any
existing file), decrypted with ETH_KEYSTORE_PASSWORD, which is the password itself or the path of a file
holding it. These are the predecessor's rules (replaced-system.md §5.5). Errors name the variable and the
problem; they never carry the key, the password or text derived from them, and the original exception is
dropped so no traceback can show it either.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr

from openpool.settings import Settings


class KeyLoadError(Exception):
    """The payer key could not be loaded; the message says why without quoting any secret."""


class SigningError(Exception):
    """A transaction could not be signed."""


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    raw_tx: str
    tx_hash: str


def _reveal(value: SecretStr | str | None) -> str:
    if value is None:
        return ""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _existing_file(value: str) -> Path | None:
    try:
        path = Path(value).expanduser()
        return path if path.is_file() else None
    except (OSError, ValueError):
        return None


def _fail(message: str) -> NoReturn:
    # Raised outside any `except` block, so the error has no __context__ that could hold secret text.
    raise KeyLoadError(message)


def _read_text(path: Path, what: str) -> str:
    problem = ""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem = type(error).__name__
    _fail(f"{what}: file cannot be read ({problem})")


def _password(value: SecretStr | str | None) -> str:
    text = _reveal(value)
    if not text:
        _fail("ETH_KEYSTORE_PASSWORD: required to decrypt the keystore named by ETH_PRIVATE_KEY")
    path = _existing_file(text)
    return _read_text(path, "ETH_KEYSTORE_PASSWORD").strip() if path is not None else text


def _account_from_keystore(path: Path, password: SecretStr | str | None) -> LocalAccount:
    keystore: object = None
    with contextlib.suppress(json.JSONDecodeError):
        keystore = json.loads(_read_text(path, "ETH_PRIVATE_KEY"))
    if not isinstance(keystore, dict):
        _fail("ETH_PRIVATE_KEY: keystore file is not a JSON object")
    secret = _password(password)
    key: bytes | None = None
    problem = ""
    try:
        key = bytes(Account.decrypt(keystore, secret))
    except ValueError:
        problem = "keystore cannot be decrypted with ETH_KEYSTORE_PASSWORD (wrong password?)"
    except Exception as error:
        problem = f"keystore file is malformed ({type(error).__name__})"
    if key is None:
        _fail(f"ETH_PRIVATE_KEY: {problem}")
    return _account_from_key(key)


_RAW_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")


def _account_from_key(key: str | bytes) -> LocalAccount:
    # eth-account left-pads a short hex string: a key missing a digit would silently be another account.
    if isinstance(key, str) and not _RAW_KEY.fullmatch(key):
        _fail("ETH_PRIVATE_KEY: not a 32-byte hex private key (64 hex digits) nor an existing keystore file")
    account: LocalAccount | None = None
    with contextlib.suppress(Exception):
        account = Account.from_key(key)
    if account is None:
        _fail("ETH_PRIVATE_KEY: not a 32-byte hex private key nor an existing keystore file")
    return account


class Signer:
    """Signs transactions for one account; `repr`, `str` and pickling never expose the key."""

    __slots__ = ("__account", "address")

    def __init__(self, account: LocalAccount) -> None:
        self.__account = account
        self.address: str = account.address

    @classmethod
    def load(cls, private_key: SecretStr | str | None, password: SecretStr | str | None = None) -> Signer:
        text = _reveal(private_key).strip()
        if not text:
            _fail("ETH_PRIVATE_KEY: required for payouts")
        path = _existing_file(text)
        if path is not None:
            return cls(_account_from_keystore(path, password))
        if text.lower().endswith(".json"):
            _fail("ETH_PRIVATE_KEY: names a keystore file that does not exist")
        return cls(_account_from_key(text))

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        signer = cls.load(settings.eth_private_key, settings.eth_keystore_password)
        if settings.payer_address is not None and settings.payer_address != signer.address:
            raise KeyLoadError(
                f"ETH_PRIVATE_KEY: belongs to {signer.address}, not to OPENPOOL_PAYER_ADDRESS {settings.payer_address}"
            )
        return signer

    def sign(self, tx: Mapping[str, int | str]) -> SignedTransaction:
        signed = None
        problem = ""
        try:
            signed = self.__account.sign_transaction(cast("dict[str, Any]", dict(tx)))
        except Exception as error:
            problem = type(error).__name__
        if signed is None:
            raise SigningError(f"cannot sign transaction ({problem})")
        return SignedTransaction(raw_tx=signed.raw_transaction.to_0x_hex(), tx_hash=signed.hash.to_0x_hex())

    def __repr__(self) -> str:
        return f"Signer(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer holds a private key and cannot be pickled or copied")
