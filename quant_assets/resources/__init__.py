"""Dagster resources: clients for external services and storage."""
