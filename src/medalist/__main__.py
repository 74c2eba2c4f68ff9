"""``python -m medalist``: the same as the ``medalist`` command."""

from medalist.cli.app import main

if __name__ == "__main__":
    main()
