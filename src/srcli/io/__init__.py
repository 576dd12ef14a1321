"""srcli.io."""
