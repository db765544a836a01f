"""An object store that goes away answers 503 STORAGE_UNAVAILABLE in the registry's error format,
never a 500: the client may retry, and the registry keeps answering what needs no blob."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ServerFactory
from tests.fakes.s3 import start_s3
from tests.integration.registry_helpers import error_code, push, upload


def test_blob_requests_answer_503_while_the_store_is_down(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    store = start_s3(tmp_path)  # its own store: this test stops it
    try:
        bucket = store.new_bucket()
        env = {**store.settings_env(bucket), "AWS_MAX_ATTEMPTS": "1"}
        srv = server_factory(env=env)
        with srv.client(auth=srv.admin_auth) as c:
            push(c, "admin/outage", "v1", b"layer kept in the store")
            blob = upload(c, "admin/outage", b"a blob in the store")
            assert c.get(f"/v2/admin/outage/blobs/{blob}").content == b"a blob in the store"
            store.stop()

            fetched = c.get(f"/v2/admin/outage/blobs/{blob}")
            assert fetched.status_code == 503, fetched.text
            assert error_code(fetched) == "STORAGE_UNAVAILABLE"
            started = c.post("/v2/admin/outage/blobs/uploads/", content=b"")
            if started.status_code >= 500:
                assert started.status_code == 503 and error_code(started) == "STORAGE_UNAVAILABLE"
            # What the database answers alone still works.
            assert c.get("/v2/admin/outage/tags/list").json()["tags"] == ["v1"]
    finally:
        store.stop()
