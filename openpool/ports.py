"""The ports a process listens on, checked at start: a taken port stops it before it connects anywhere.

A process that found its port taken once it was up would either run unwatched (no metrics, no probes) or die
in a traceback among its shutdown lines; checked first, the clash is one line naming the variable.
"""

from __future__ import annotations

import errno
import os
import socket

from openpool.settings import SettingsError


class PortTaken(SettingsError):
    """A port the process must listen on cannot be bound; the message names the setting that chose it."""

    def __init__(self, setting: str, port: int, error: OSError) -> None:
        reason = os.strerror(error.errno) if error.errno else str(error)
        clash = "is taken" if error.errno == errno.EADDRINUSE else "cannot be bound"
        super().__init__(f"{setting}={port} {clash} ({reason.lower()})")
        self.setting = setting
        self.port = port


def check_free(setting: str, port: int, *, host: str) -> None:
    """Bind and listen on `host:port` as asyncio's servers do, then let it go.

    For a server started later by code that cannot be handed a socket (Faust's web server). SO_REUSEADDR, as
    asyncio sets it, so a port a previous run left in TIME_WAIT counts as free, as it does for the server.
    """
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        raise PortTaken(setting, port, error) from None
