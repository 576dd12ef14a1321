"""srcli.training."""
