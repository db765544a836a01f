"""Allows `python -m dockyard`."""

from dockyard.cli import main

main()
