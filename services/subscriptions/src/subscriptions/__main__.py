"""Process entry point: `uv run subscriptions` or `python -m subscriptions`.

Settings come from the environment (see settings.py).
"""

from servicekit import serve
from subscriptions.app import create_app
from subscriptions.settings import Settings


def main() -> None:
    serve(Settings, create_app)


if __name__ == "__main__":
    main()
