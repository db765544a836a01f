"""Promotion and mirroring policies: rules, tag templates, promotion, push and poll mirroring."""
