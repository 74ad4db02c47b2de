"""``python -m taylorlr`` behaves exactly like the ``taylorlr`` command."""

from taylorlr.cli import main

if __name__ == "__main__":
    main()
