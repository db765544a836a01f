"""Vulnerability scanning: image inventories, the OSV database, scan jobs and their results."""
