from __future__ import annotations

from tests.reliability.secrets_scan import Evidence, PayerSecrets


def test_the_key_is_found_with_or_without_0x_in_any_case_and_the_password_and_aws_secret_as_written() -> None:
    secret = PayerSecrets.fresh()
    digits = secret.private_key[2:]
    for text in (f"key={secret.private_key}", f"k {digits.upper()} k", f'"0X{digits.upper()}"'):
        assert secret.found_in(text) == ["private key"], text
    assert secret.found_in(f"password: {secret.password}") == ["keystore password"]
    assert secret.found_in(f"AWS_SECRET_ACCESS_KEY={secret.aws_secret}") == ["AWS secret"]
    assert secret.found_in(f"address {secret.address} and a 63-digit tail {digits[1:]}") == []


def test_evidence_reports_where_each_secret_leaked() -> None:
    secret = PayerSecrets.fresh()
    evidence = Evidence()
    evidence.add("log", "nothing here")
    evidence.add("topic app.payout-wal", secret.private_key.encode())
    evidence.add("API GET /pool", secret.password)
    assert evidence.leaks(secret) == {"topic app.payout-wal": ["private key"], "API GET /pool": ["keystore password"]}
