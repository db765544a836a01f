"""Authentication and authorization: passwords, tokens, the permission function."""
