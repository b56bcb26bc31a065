"""Why the local stack could not be installed, started or used; each message says what to do."""

from __future__ import annotations


class StackError(RuntimeError):
    """Base of the local stack's failures."""


class StackInstallError(StackError):
    """A tool (Kafka jars, anvil) could not be installed."""


class StackNotInstalledError(StackError):
    """`openpool stack install` has not run for this tools folder (or its cache was removed)."""


class StackStartError(StackError):
    """A service did not start or did not answer in time; the message carries the tail of its log."""
