"""Cross-process wake-ups for the delivery engine: "an event was just committed".

The HTTP process and the delivery engine may be two processes (`dockyard serve` runs the
engine in a child process; `dockyard worker` runs it on its own). A commit in the HTTP process
sends one datagram to a Unix socket named after the data folder; the engine listening there
dispatches at once instead of at its next poll. Several delivery processes on one data folder
(`DOCKYARD_DELIVERY_PROCESSES`) each bind one of `MAX_LISTENERS` numbered sockets; a commit is
announced to every number (a datagram to a number nobody holds fails at once). A second kind of
datagram, "deliveries are due" (`announce_claims`), is what the dispatching process sends the
others when a batch left deliveries for the claim stage: they claim at once instead of at their
next poll, and nobody claims at every commit. Best effort by
design: a lost datagram (no
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


# Delivery processes on one data folder that can each be woken.
MAX_LISTENERS = 8
# The datagrams: an event was committed (dispatch); deliveries were left due (claim).
COMMITTED = b"w"
DUE = b"c"


def wake_address(data_dir: Path, number: int = 0) -> str:
    """The socket name both sides derive from the data folder (Linux: abstract namespace, so
    no file is left behind; elsewhere a file in the temporary folder)."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:24]
    suffix = f"-{number}" if number else ""
    if sys.platform.startswith("linux"):
        return f"\0dockyard-webhooks-{digest}{suffix}"
    return str(Path(tempfile.gettempdir()) / f"dockyard-webhooks-{digest}{suffix}.sock")


def _bind(address: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        if not address.startswith("\0"):
            # A file left by an engine that died; one alive would keep it (best effort).
            with contextlib.suppress(FileNotFoundError):
                Path(address).unlink()
        sock.bind(address)
    except OSError:
        sock.close()
        return None
    return sock


def listen(
    data_dir: Path, wake: asyncio.Event | None, due: asyncio.Event | None = None
) -> socket.socket | None:
    """Bind the first free wake socket; set `wake` on each commit's datagram and `due` on each
    "deliveries are due" one (either may be None: not listened for). None when every number
    is taken (that engine polls then, as an engine on another host does)."""
    for number in range(MAX_LISTENERS):
        sock = _bind(wake_address(data_dir, number))
        if sock is not None:
            break
    else:
        log.info("webhook.wake.unavailable")
        return None
    sock.setblocking(False)

    def on_readable() -> None:
        kinds: set[bytes] = set()
        with contextlib.suppress(OSError):
            while data := sock.recv(64):
                kinds.add(data[:1])
        if wake is not None and (COMMITTED in kinds or not kinds):
            wake.set()
        if due is not None and DUE in kinds:
            due.set()

    asyncio.get_running_loop().add_reader(sock.fileno(), on_readable)
    return sock


def close(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(Exception):
        asyncio.get_running_loop().remove_reader(sock.fileno())
    sock.close()


def announce(data_dir: Path) -> None:
    """Wake every engine of this data folder once: for a process that records events without
    forwarding its commits (a tool, a test seeding the database directly)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        for number in range(MAX_LISTENERS):
            with contextlib.suppress(OSError):
                sock.sendto(COMMITTED, wake_address(data_dir, number))
    finally:
        sock.close()


class DueAnnouncer:
    """Tells the other delivery processes of this data folder that deliveries are due
    (non-blocking: a full buffer drops the datagram, their poll is the fallback)."""

    def __init__(self, data_dir: Path) -> None:
        self.addresses = [wake_address(data_dir, number) for number in range(MAX_LISTENERS)]
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def __call__(self) -> None:
        for address in self.addresses:
            with contextlib.suppress(OSError):
                self.sock.sendto(DUE, address)

    def close(self) -> None:
        self.sock.close()


async def forward_commits(data_dir: Path) -> None:
    """Background task of an HTTP process that does not deliver: pass each commit's wake-up on
    to the engine's socket, until cancelled."""
    addresses = [wake_address(data_dir, number) for number in range(MAX_LISTENERS)]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    waker = bus.subscribe_wakeups()
    try:
        while True:
            await waker.wait()
            waker.clear()
            for address in addresses:
                with contextlib.suppress(OSError):  # nobody listening, or the buffer is full
                    sock.sendto(COMMITTED, address)
    finally:
        sock.close()
