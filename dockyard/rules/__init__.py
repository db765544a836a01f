"""Pure rules (no I/O): who may do what, and other decisions every domain may use.

The bottom of the house beside the infrastructure: nothing here imports a domain, the web or the
database session; domains and listing queries build on these rules.
"""
