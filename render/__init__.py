"""Builds the static site from the database and templates/."""
