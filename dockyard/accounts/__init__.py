"""Accounts: users, organizations, teams, memberships and API tokens."""
