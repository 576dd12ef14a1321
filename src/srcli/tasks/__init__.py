"""srcli.tasks."""
