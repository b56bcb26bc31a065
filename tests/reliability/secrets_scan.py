"""A fresh payer key, keystore password and AWS secret for one test, and a search for them in anything.

The key is searched as its 64 hex digits in any case, which also finds it with `0x` and upper-cased; the
password and the AWS secret as written. Each piece of evidence is kept under a name saying where it came
from, so a leak report says which log, topic or response held which secret.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_typing import HexStr


@dataclass(frozen=True)
class PayerSecrets:
    private_key: str
    """0x-prefixed, lower case."""
    password: str
    aws_secret: str
    address: str

    @classmethod
    def fresh(cls) -> PayerSecrets:
        key = "0x" + secrets.token_bytes(32).hex()
        return cls(
            private_key=key,
            password="pw-" + secrets.token_urlsafe(24),
            aws_secret="aws-" + secrets.token_urlsafe(30),
            address=Account.from_key(key).address,
        )

    def write_keystore(self, path: Path) -> Path:
        # scrypt at a low cost: the key is thrown away after the test.
        keystore = Account.encrypt(HexStr(self.private_key), self.password, kdf="scrypt", iterations=2**14)
        path.write_text(json.dumps(keystore), encoding="utf-8")
        return path

    def found_in(self, text: str) -> list[str]:
        lowered = text.lower()
        needles = {
            "private key": self.private_key[2:],
            "keystore password": self.password.lower(),
            "AWS secret": self.aws_secret.lower(),
        }
        return [name for name, needle in needles.items() if needle in lowered]


@dataclass
class Evidence:
    """Everything the processes produced, by where it came from."""

    items: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, content: str | bytes | None) -> None:
        if content is None:
            return
        text = content.decode("latin-1") if isinstance(content, bytes) else content
        self.items[where] = self.items.get(where, "") + text

    def add_files(self, prefix: str, paths: Iterable[Path]) -> None:
        for path in paths:
            if path.is_file():
                self.add(f"{prefix}:{path.name}", path.read_bytes())

    def leaks(self, secrets_: PayerSecrets) -> dict[str, list[str]]:
        return {where: found for where, text in self.items.items() if (found := secrets_.found_in(text))}

    def sources(self, prefix: str) -> list[str]:
        return [where for where, text in self.items.items() if where.startswith(prefix) and text]
