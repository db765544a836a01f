"""Tables for webhook subscriptions, deliveries and delivery attempts."""

from __future__ import annotations
