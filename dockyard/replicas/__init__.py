"""Replicas: every dockyard process (HTTP workers, delivery and scan workers) and its heartbeat."""
