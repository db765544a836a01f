"""Cross-process wake-ups for the delivery engine: "an event was just committed".

The HTTP process and the delivery engine may be two processes (`dockyard serve` runs the
engine in a child process; `dockyard worker` runs it on its own). A commit in the HTTP process
sends one datagram to a Unix socket named after the data folder; the engine listening there
dispatches at once instead of at its next poll. Best effort by design: a lost datagram (no
listener, a full buffer, an engine on another host) only means the engine's poll picks the
event up. No HTTP, no database here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import sys
import tempfile
from pathlib import Path

from dockyard.events import bus

log = logging.getLogger(__name__)


def wake_address(data_dir: Path) -> str:
    """The socket name both sides derive from the data folder (Linux: abstract namespace, so
    no file is left behind; elsewhere a file in the temporary folder)."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:24]
    if sys.platform.startswith("linux"):
        return f"\0dockyard-webhooks-{digest}"
    return str(Path(tempfile.gettempdir()) / f"dockyard-webhooks-{digest}.sock")


def listen(data_dir: Path, wake: asyncio.Event) -> socket.socket | None:
    """Bind the wake socket and set `wake` on each datagram; None when another engine already
    listens for this data folder (it polls then, as an engine on another host does)."""
    address = wake_address(data_dir)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        if not address.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                Path(address).unlink()
        sock.bind(address)
    except OSError:
        sock.close()
        log.info("webhook.wake.unavailable")
        return None
    sock.setblocking(False)

    def on_readable() -> None:
        with contextlib.suppress(OSError):
            while sock.recv(64):
                pass
        wake.set()

    asyncio.get_running_loop().add_reader(sock.fileno(), on_readable)
    return sock


def close(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(Exception):
        asyncio.get_running_loop().remove_reader(sock.fileno())
    sock.close()


async def forward_commits(data_dir: Path) -> None:
    """Background task of an HTTP process that does not deliver: pass each commit's wake-up on
    to the engine's socket, until cancelled."""
    address = wake_address(data_dir)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    waker = bus.subscribe_wakeups()
    try:
        while True:
            await waker.wait()
            waker.clear()
            with contextlib.suppress(OSError):  # nobody listening, or the buffer is full
                sock.sendto(b"w", address)
    finally:
        sock.close()
