"""dockyard: a self-hosted OCI container registry with MSR-compatible webhooks."""

__version__ = "0.1.0"
