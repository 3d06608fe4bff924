"""Process entry point: `uv run invoicing` or `python -m invoicing`.

Settings come from the environment (see settings.py).
"""

from invoicing.app import create_app
from invoicing.settings import Settings
from servicekit import serve


def main() -> None:
    serve(Settings, create_app)


if __name__ == "__main__":
    main()
