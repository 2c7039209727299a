"""Schedules, sensors and asset checks that keep the graph up to date and honest."""
