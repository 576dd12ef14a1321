"""srcli.models."""
