"""Blob storage: a driver protocol and its implementations (filesystem now, S3 later)."""
