"""srcli.cli."""
