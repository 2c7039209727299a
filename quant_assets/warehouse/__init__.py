"""Tables of the DuckDB warehouse and the SQL that reads and writes them (no Dagster here)."""
