"""``python -m srcli``."""

from srcli.cli.app import main

if __name__ == "__main__":
    main()
