"""AWS DMS's own API (JSON 1.1, SigV4) over the catalog and the live state the CLI uses: `dms api`."""
