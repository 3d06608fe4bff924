"""Cross-service tests (``tests/``): markers and order.

Everything under ``tests/e2e`` starts the whole system, so it is marked ``e2e`` here even where
a module forgets to: ``make test-unit`` (``-m "not integration and not e2e"``) must never start
it. The launcher's own test runs first: it starts a second system of its own, and running it
while the session's shared system is already up would put two of them on the machine's two
cores at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

E2E_DIR = Path(__file__).parent / "e2e"
RUNS_FIRST = "test_dev_launcher.py"


def _in_e2e(item: pytest.Item) -> bool:
    return E2E_DIR in Path(item.path).parents


# tryfirst: the marker must be on before ``-m`` deselects by it.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    for item in items:
        if _in_e2e(item) and item.get_closest_marker("e2e") is None:
            item.add_marker(pytest.mark.e2e)
    # A stable sort: the launcher's test first, everything else in collection order.
    items.sort(key=lambda item: 0 if _in_e2e(item) and item.path.name == RUNS_FIRST else 1)
