"""The local stack: Apache Kafka (stock jars from Maven Central), S3 (moto) and anvil on loopback, no Docker.

`openpool stack install|up|status|down` drives it (cli.py); tests use `services.LocalStack` through the fixtures in
tests/conftest.py, and `sessions.SharedStack` lets several test sessions share one stack.
"""
