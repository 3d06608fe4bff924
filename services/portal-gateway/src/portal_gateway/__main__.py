"""Process entry point: `uv run portal-gateway` or `python -m portal_gateway`.

Settings come from the environment (see settings.py).
"""

from portal_gateway.app import create_app
from portal_gateway.settings import Settings
from servicekit import serve


def main() -> None:
    serve(Settings, create_app)


if __name__ == "__main__":
    main()
