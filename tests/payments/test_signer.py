from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest
from eth_account import Account
from eth_typing import HexStr
from pydantic import SecretStr

from openpool.settings import load_settings
from payments.signer import KeyLoadError, Signer
from payments.wal import decode_transfer

DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PASSWORD = "correct horse battery staple 7f3a"


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "payer.json"
    path.write_text(json.dumps(Account.encrypt(HexStr(DEV_KEY), PASSWORD, kdf="pbkdf2", iterations=2)))
    return path


def secrets_absent(error: BaseException, *secrets: str) -> None:
    texts = [str(error), repr(error), str(error.args)]
    for secret in secrets:
        for text in texts:
            assert secret not in text
            assert secret.removeprefix("0x") not in text
    assert error.__cause__ is None
    assert error.__context__ is None


def test_a_raw_hex_key_gives_its_account() -> None:
    assert Signer.load(SecretStr(DEV_KEY)).address == DEV_ADDRESS
    assert Signer.load(DEV_KEY.removeprefix("0x") + "\n").address == DEV_ADDRESS


def test_a_keystore_is_decrypted_with_the_password(keystore: Path) -> None:
    assert Signer.load(str(keystore), SecretStr(PASSWORD)).address == DEV_ADDRESS


def test_the_password_may_be_a_file_holding_it(keystore: Path, tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")

    assert Signer.load(str(keystore), str(password_file)).address == DEV_ADDRESS


def test_repr_and_str_show_the_address_and_never_the_key() -> None:
    signer = Signer.load(DEV_KEY)

    for text in (repr(signer), str(signer), f"{signer}", f"{signer!r}"):
        assert DEV_ADDRESS in text
        assert DEV_KEY.removeprefix("0x") not in text.lower()


def test_a_signer_cannot_be_pickled_or_copied() -> None:
    signer = Signer.load(DEV_KEY)

    with pytest.raises(TypeError, match="private key"):
        pickle.dumps(signer)
    with pytest.raises(TypeError, match="private key"):
        copy.deepcopy(signer)


def test_a_wrong_password_fails_without_showing_password_or_key(keystore: Path) -> None:
    wrong = "wrong-password-91c2"

    with pytest.raises(KeyLoadError, match="cannot be decrypted") as raised:
        Signer.load(str(keystore), SecretStr(wrong))

    secrets_absent(raised.value, wrong, PASSWORD, DEV_KEY)


@pytest.mark.parametrize(
    "malformed",
    [
        DEV_KEY[:-2],  # 31 bytes
        DEV_KEY[:10] + "zz" + DEV_KEY[12:],  # not hex
        DEV_KEY + "00",  # 33 bytes
    ],
)
def test_a_malformed_key_fails_without_showing_it(malformed: str) -> None:
    with pytest.raises(KeyLoadError, match="ETH_PRIVATE_KEY") as raised:
        Signer.load(SecretStr(malformed))

    secrets_absent(raised.value, malformed, malformed[2:20])


def test_a_missing_key_or_password_names_the_variable(keystore: Path) -> None:
    with pytest.raises(KeyLoadError, match="ETH_PRIVATE_KEY: required"):
        Signer.load(None)
    with pytest.raises(KeyLoadError, match="ETH_KEYSTORE_PASSWORD"):
        Signer.load(str(keystore), None)
    with pytest.raises(KeyLoadError, match="does not exist"):
        Signer.load("/nonexistent/payer.json")


def test_a_keystore_that_is_not_json_fails_cleanly(tmp_path: Path) -> None:
    bogus = tmp_path / "payer.json"
    bogus.write_text("not json " + DEV_KEY)

    with pytest.raises(KeyLoadError, match="not a JSON object") as raised:
        Signer.load(str(bogus), PASSWORD)

    secrets_absent(raised.value, DEV_KEY, PASSWORD)


def test_the_settings_key_must_belong_to_the_configured_payer_address() -> None:
    other = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    settings = load_settings(ETH_PRIVATE_KEY=DEV_KEY, OPENPOOL_PAYER_ADDRESS=other)

    with pytest.raises(KeyLoadError, match="not to OPENPOOL_PAYER_ADDRESS") as raised:
        Signer.from_settings(settings)

    secrets_absent(raised.value, DEV_KEY)
    assert Signer.from_settings(load_settings(ETH_PRIVATE_KEY=DEV_KEY)).address == DEV_ADDRESS


def test_signing_gives_the_raw_transaction_and_its_hash() -> None:
    signed = Signer.load(DEV_KEY).sign(
        {
            "type": 2,
            "chainId": 42161,
            "nonce": 3,
            "to": DEV_ADDRESS,
            "value": 10**16,
            "gas": 21_000,
            "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 0,
        }
    )

    decoded = decode_transfer(signed.raw_tx)
    assert (decoded.chain_id, decoded.nonce, decoded.to, decoded.value) == (42161, 3, DEV_ADDRESS, 10**16)
    assert decoded.tx_hash == signed.tx_hash
    assert Account.recover_transaction(signed.raw_tx) == DEV_ADDRESS


def test_a_key_one_hex_digit_short_is_refused_not_padded_into_another_account() -> None:
    short = DEV_KEY[:-1]
    with pytest.raises(KeyLoadError) as refused:
        Signer.load(SecretStr(short))
    secrets_absent(refused.value, short)
    assert Signer.load(SecretStr(DEV_KEY.removeprefix("0x").upper())).address == DEV_ADDRESS
