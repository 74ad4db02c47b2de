"""``python -m taylorlr`` behaves exactly like the ``taylorlr`` command."""

from .cli import main

if __name__ == "__main__":
    main()
