"""Events: the 13 MSR event types, their payload builders and the transactional outbox.

Knows nothing of webhooks: consumers (webhooks, later scanning and policies) read the outbox.
"""
