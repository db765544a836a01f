"""Background jobs: leases and runners shared by feature workers."""
