"""The /api/v0 and /enzi/v0 assembly: error envelope, pagination, shared dependencies."""
