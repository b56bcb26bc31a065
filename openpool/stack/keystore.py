"""The payer's key for the local stack: anvil's public dev account 0, kept the way production keeps one.

Production reads an encrypted JSON keystore and its password from files (ETH_PRIVATE_KEY,
ETH_KEYSTORE_PASSWORD); the local stack writes the same two files so the payer runs the same code path.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from eth_typing import HexStr

# Account 0 of the public test mnemonic "test test ... junk" that anvil funds on every start. It is a
# well-known test key, never one that holds real funds.
DEV_ACCOUNT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ACCOUNT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
# scrypt's default cost takes ~0.5 s per decryption; the payer restarts often in tests and the key is
# public anyway, so a cheap cost is enough here.
_SCRYPT_COST = 2**14


def write_dev_keystore(keystore_file: Path, password_file: Path) -> None:
    """Write the keystore and its password file (mode 0600) unless both already exist."""
    if keystore_file.is_file() and password_file.is_file():
        return
    # Imported here: eth_account takes ~0.3 s to import, and every `openpool` call would pay for it.
    from eth_account import Account

    password = secrets.token_urlsafe(24)
    keystore = Account.encrypt(HexStr(DEV_ACCOUNT_KEY), password, kdf="scrypt", iterations=_SCRYPT_COST)
    _write_private(password_file, password + "\n")
    _write_private(keystore_file, json.dumps(keystore) + "\n")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    temporary.replace(path)
