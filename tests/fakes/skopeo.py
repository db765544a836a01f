"""Run skopeo against a test server (plain HTTP on loopback, credentials on the command line)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

BLOB_INFO_CACHE = Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb")


def skopeo(
    *args: str, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("skopeo")
    if exe is None:
        raise RuntimeError("skopeo is not installed; run `make test`, which installs it")
    # A shared blob-info cache makes skopeo skip uploads it thinks another registry has.
    BLOB_INFO_CACHE.unlink(missing_ok=True)
    result = subprocess.run(
        [exe, "--insecure-policy", *args], capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed:\n{result.stderr}")
    return result


def push(src: str, host: str, image: str, creds: tuple[str, str], *extra: str) -> None:
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"{creds[0]}:{creds[1]}",
        *extra,
        src,
        f"docker://{host}/{image}",
    )


def pull(host: str, image: str, dest: str, creds: tuple[str, str], *extra: str) -> None:
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        f"{creds[0]}:{creds[1]}",
        *extra,
        f"docker://{host}/{image}",
        dest,
    )
