"""Registry-wide settings and the cluster's processes: MSR's `/api/v0/meta` (settings changed at
run time and stored in the database, the cluster status read from the replica records)."""
