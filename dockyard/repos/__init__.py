"""Repositories, tags, manifests and their team access grants."""
