"""Small infrastructure pieces with one interface each, over well-kept libraries: rate limits
(`limits`), expiring caches (`cachetools`), secret files created once. Bottom layer: imports
nothing from dockyard; no HTTP, no database here."""
