"""The S3 driver's upload state: one row per upload that has received bytes.

The bytes live in S3 (an S3 multipart upload plus a small "tail" object, see `s3_uploads.py`);
this row says which: the multipart upload's id, its parts (number, ETag, size) as JSON, the key
of the tail object, the size so far. Every replica reads and writes it, so the chunks of one
upload may arrive at different replicas and an upload outlives any replica's restart.

`version` grows with every claim and every save: a writer claims the row (version + 1, a lease
in `busy_until`) before touching S3 and saves only while it still holds that version, so two
requests appending to one upload at once cannot both win. Times are epoch seconds.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.db.base import Base


class S3Upload(Base):
    __tablename__ = "s3_uploads"

    # The storage-level upload id (the registry's upload UUID, or a monolithic upload's own).
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # S3's UploadId of the multipart upload; None until the first full part is sent.
    multipart_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # JSON list of [part number, ETag, size], in order.
    parts: Mapped[str] = mapped_column(Text, default="[]")
    # Bytes received: the parts' sizes plus the tail's.
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # The object holding the bytes after the last part (shorter than one part); None: empty.
    tail_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # The multipart upload was completed into the staging object (a commit whose digest did
    # not match after a read-back); the bytes are all in that object now.
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
    busy_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[float] = mapped_column(Float, index=True)
