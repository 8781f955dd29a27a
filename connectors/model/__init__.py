"""The task model: what endpoints, instances and tasks are (catalog, DMS mapping and settings documents,
the table map they make, the states a task and a table go through). Both the CLI (scheduler/) and the
workers (worker/) import it; it imports only connectors' contracts, never scheduler or worker."""
