"""Process entry point: `uv run notifications` or `python -m notifications`.

Settings come from the environment (see settings.py).
"""

from notifications.app import create_app
from notifications.settings import Settings
from servicekit import serve


def main() -> None:
    serve(Settings, create_app)


if __name__ == "__main__":
    main()
