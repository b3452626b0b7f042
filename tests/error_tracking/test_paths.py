"""Frame paths become repository paths (`paths.py`), through `normalize_event`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import js_event

from nightfix_errors.normalize import normalize_event
from nightfix_errors.paths import go_module_name, parse_mapping, repository_path


def frames_of(event: dict[str, Any], path_map: list[tuple[str, str]] | None = None) -> list[Any]:
    return normalize_event(event, path_map=path_map).data["exceptions"][-1]["frames"]


def node_event(*frames: dict[str, Any]) -> dict[str, Any]:
    event = js_event(platform="node")
    event["exception"]["values"][-1]["stacktrace"] = {"frames": list(frames)}
    return event


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/srv/app/dist/db/connection.js", "dist/db/connection.js"),
        ("/srv/app/src/db/connection.ts", "src/db/connection.ts"),
        ("file:///srv/app/src/db/connection.ts", "src/db/connection.ts"),
        ("/usr/local/lib/shop/src/cart.ts", "src/cart.ts"),  # lib only when nothing else
        ("/srv/app/lib/cart.js", "lib/cart.js"),
        ("/opt/deploy/current/server/orders.js", None),  # no rule applies: a path map does
        ("node:internal/process/task_queues", None),
    ],
)
def test_node_deploy_roots_are_stripped(path: str, expected: str | None) -> None:
    assert repository_path(path, "node", None, []) == expected


@pytest.mark.parametrize(
    ("package", "module"),
    [
        ("example.com/inventory/stock", "example.com/inventory"),
        ("github.com/acme/shop/internal/cart", "github.com/acme/shop"),
        ("inventory/stock", "inventory"),
    ],
)
def test_go_module_name_from_a_package_path(package: str, module: str) -> None:
    assert go_module_name(package) == module


@pytest.mark.parametrize(
    "path",
    [
        "/go/src/example.com/inventory/stock/stock.go",  # GOPATH mode
        "example.com/inventory/stock/stock.go",  # -trimpath
    ],
)
def test_go_package_locates_the_file_in_the_repository(path: str) -> None:
    assert repository_path(path, "go", "example.com/inventory/stock", []) == "stock/stock.go"


def test_go_file_outside_its_package_directory_is_left_alone() -> None:
    assert repository_path("/build/x/stock.go", "go", "example.com/inventory/stock", []) is None


def test_path_map_wins_over_the_rules_and_keeps_what_the_sdk_sent() -> None:
    event = node_event(
        {"abs_path": "/opt/deploy/current/server/orders.js", "function": "place", "lineno": 3}
    )
    [frame] = frames_of(event, [("/opt/deploy/current/", "")])
    assert frame["filename"] == "server/orders.js"
    assert frame["abs_path"] == "/opt/deploy/current/server/orders.js"
    [unmapped] = frames_of(event)
    assert unmapped["filename"] is None


def test_parse_mapping_refuses_a_mapping_without_equals_sign() -> None:
    assert parse_mapping("/srv/app/=") == ("/srv/app/", "")
    with pytest.raises(ValueError, match="FROM=TO"):
        parse_mapping("/srv/app/")


def test_library_frames_stay_library_frames_and_keep_their_paths() -> None:
    event = node_event(
        {"filename": "/srv/app/node_modules/express/lib/router.js", "function": "handle"},
        {"filename": "/srv/app/src/server.ts", "function": "?", "lineno": 4, "in_app": True},
    )
    library, app = frames_of(event)
    assert library["in_app"] is False
    assert library["filename"] == "/srv/app/node_modules/express/lib/router.js"
    assert (app["filename"], app["function"]) == ("src/server.ts", "<anonymous>")


def test_anonymous_method_reads_as_anonymous() -> None:
    event = node_event({"filename": "/srv/app/src/server.ts", "function": "Server.?"})
    assert frames_of(event)[0]["function"] == "Server.<anonymous>"


def test_an_in_app_frame_outside_the_repository_root_is_not_the_services_code() -> None:
    event = node_event(
        {"filename": "/srv/app/src/server.ts", "function": "handle", "in_app": True},
        {"filename": "/opt/wrappers/wrapper.js", "function": "wrap", "in_app": True},
    )
    inside, outside = frames_of(event)
    assert inside["in_app"] is True and outside["in_app"] is False


def test_dedupe_integration_is_recorded() -> None:
    event = node_event({"filename": "/srv/app/src/server.ts", "function": "handle"})
    event["sdk"] = {"name": "sentry.javascript.node", "version": "11.12.0",
                    "integrations": ["InboundFilters", "Dedupe", "Http"]}  # fmt: skip
    normalized = normalize_event(event)
    assert normalized.sdk_deduplicates is True
    assert normalized.data["sdk"]["deduplicates"] is True
    event["sdk"]["integrations"] = ["InboundFilters", "Http"]
    assert normalize_event(event).sdk_deduplicates is False
