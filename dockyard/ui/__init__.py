"""The web UI: server-rendered pages."""
