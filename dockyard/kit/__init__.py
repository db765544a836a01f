"""Small infrastructure pieces with one interface each, over well-kept libraries: expiring
caches (`cachetools`), secret files created once, the SSRF guard. (Registry-wide rate limits are
counted in the database: `db/shared_limits.py`.) Bottom layer: imports
nothing from dockyard; no HTTP, no database here."""
