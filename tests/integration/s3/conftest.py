"""The local S3 server (moto) for the end-to-end tests of the S3 storage driver."""

from tests.fakes.s3 import s3_server as s3_server  # the session fixture
