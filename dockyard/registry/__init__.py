"""The OCI Distribution v1.1 protocol (/v2): an HTTP adapter over repos and storage."""
