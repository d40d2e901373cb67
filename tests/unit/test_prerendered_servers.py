"""Prerendered list items (issue 13 lever 2): ``ServerView.detail_json``/``index_json`` give the bytes of
exactly what ``detail``/``index`` build, and the memo never answers with a rendering of other inputs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from extproc import annotations as keys
from extproc.compute import server_view
from extproc.compute.server_view import ServerView
from tests.unit.test_compute_view import DEVSTACK_URL, IMAGE_URL, PROJECT, gateway_pod, running_pod

Json = dict[str, Any]


def fresh(pod: Json, rv: str = "100") -> Json:
    """``pod`` under a uid no other test uses (the memo is process-wide)."""
    pod["metadata"]["uid"] = str(uuid.uuid4())
    pod["metadata"]["resourceVersion"] = rv
    return pod


def items(rendered: list[bytes]) -> list[Json]:
    return [orjson.loads(b) for b in rendered]


def test_detail_and_index_bytes_are_the_views() -> None:
    view = ServerView(DEVSTACK_URL, PROJECT)
    pods = [fresh(running_pod()), fresh(gateway_pod())]
    assert items(view.detail_json(pods)) == view.detail(pods)
    assert items(view.index_json(pods)) == view.index(pods)


def test_a_second_page_reuses_the_rendered_bytes() -> None:
    view = ServerView(DEVSTACK_URL, PROJECT)
    pod = fresh(running_pod())
    first = view.detail_json([pod])[0]
    again = ServerView(DEVSTACK_URL, PROJECT).detail_json([pod])[0]
    assert again is first
    assert view.index_json([pod])[0] is view.index_json([pod])[0]


def test_a_new_resource_version_is_rendered_again() -> None:
    view = ServerView(DEVSTACK_URL, PROJECT)
    pod = fresh(running_pod(), rv="100")
    assert items(view.detail_json([pod]))[0]["status"] == "ACTIVE"
    stopped = dict(pod, metadata=dict(pod["metadata"], resourceVersion="101"))
    stopped["status"] = dict(pod["status"], phase="Failed")
    assert items(view.detail_json([stopped]))[0]["status"] == view.show(stopped)["status"] != "ACTIVE"


def test_the_microversion_and_the_link_project_are_part_of_the_key() -> None:
    pod = fresh(running_pod())
    pod["metadata"]["annotations"][keys.LOCKED_BY] = "owner"
    plain = items(ServerView(DEVSTACK_URL, PROJECT).detail_json([pod]))[0]
    at_2_9 = items(ServerView(DEVSTACK_URL, PROJECT, version=(2, 9)).detail_json([pod]))[0]
    other_project = items(ServerView(DEVSTACK_URL, "other").detail_json([pod]))[0]
    assert "locked" not in plain
    assert at_2_9["locked"] is True
    assert "/other/" in other_project["links"][0]["href"]
    assert f"/{PROJECT}/" in plain["links"][0]["href"]


def test_a_pending_task_is_read_per_request() -> None:
    pod = fresh(running_pod())
    task: dict[str, str | None] = {"now": None}

    def lookup(p: Mapping[str, Any]) -> str | None:
        return task["now"]

    view = ServerView(DEVSTACK_URL, PROJECT, task_lookup=lookup)
    assert items(view.detail_json([pod]))[0]["status"] == "ACTIVE"
    task["now"] = "rebooting"
    assert items(view.detail_json([pod]))[0]["status"] == "REBOOT"
    task["now"] = None
    assert items(view.detail_json([pod]))[0]["status"] == "ACTIVE"


def test_the_catalog_image_is_read_per_request() -> None:
    pod = fresh(running_pod())
    del pod["metadata"]["annotations"][keys.IMAGE_ID]
    pod["spec"]["virtualMachine"]["image"] = IMAGE_URL
    catalog: dict[str, str] = {}

    def lookup(tenant: str | None, url: str) -> str | None:
        return catalog.get(url)

    view = ServerView(DEVSTACK_URL, PROJECT, image_lookup=lookup)
    assert items(view.detail_json([pod]))[0]["image"] == ""
    catalog[IMAGE_URL] = "11111111-2222-3333-4444-555555555555"
    assert items(view.detail_json([pod]))[0]["image"]["id"] == catalog[IMAGE_URL]


def test_a_displayed_name_given_without_a_new_version_shows() -> None:
    # Batch members get their name from the processor's mark, on a copy with the same uid and version.
    view = ServerView(DEVSTACK_URL, PROJECT)
    pod = fresh(running_pod())
    renamed = dict(pod, metadata=dict(pod["metadata"]))
    renamed["metadata"]["annotations"] = {**pod["metadata"]["annotations"], keys.DISPLAY_NAME: "batch-1"}
    assert items(view.detail_json([pod]))[0]["name"] == "test-2"
    assert items(view.detail_json([renamed]))[0]["name"] == "batch-1"
    assert items(view.index_json([renamed]))[0]["name"] == "batch-1"


def test_a_pod_without_uid_or_version_is_never_memoized() -> None:
    view = ServerView(DEVSTACK_URL, PROJECT)
    pod = running_pod()
    pod["metadata"].pop("uid", None)
    pod["metadata"].pop("resourceVersion", None)
    before = len(server_view._rendered)
    assert items(view.detail_json([pod])) == view.detail([pod])
    assert items(view.index_json([pod])) == view.index([pod])
    assert len(server_view._rendered) == before


def test_the_memo_is_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(server_view, "RENDERED_CAPACITY", 3)
    monkeypatch.setattr(server_view, "_rendered", {})
    view = ServerView(DEVSTACK_URL, PROJECT)
    pods = [fresh(running_pod()) for _ in range(5)]
    assert items(view.detail_json(pods)) == view.detail(pods)
    assert len(server_view._rendered) == 3


# ---------------------------------------------------------------------------------------------------------
# show_json: GET /servers/{id} answered from the watch cache (issue 13 lever 1) renders a pod version once


def test_show_bytes_are_the_show_at_every_microversion() -> None:
    pod = fresh(running_pod())
    pod["metadata"].setdefault("labels", {})[keys.SERVER_GROUP_LABEL] = "g-1"
    for version in ((2, 1), (2, 47), (2, 70), (2, 71), (2, 100)):
        view = ServerView(DEVSTACK_URL, PROJECT, version=version)
        assert orjson.loads(view.show_json(pod)) == view.show(pod), version
    # 2.71 shows the server's groups in show but never in the detail list, prerendered or not.
    at_2_71 = ServerView(DEVSTACK_URL, PROJECT, version=(2, 71))
    assert orjson.loads(at_2_71.show_json(pod))["server_groups"] == ["g-1"]
    assert "server_groups" not in items(at_2_71.detail_json([pod]))[0]


def test_show_bytes_follow_the_version_the_task_and_the_name() -> None:
    pod = fresh(running_pod(), rv="100")
    task: dict[str, str | None] = {"now": None}
    view = ServerView(DEVSTACK_URL, PROJECT, task_lookup=lambda p: task["now"])
    first = view.show_json(pod)
    assert view.show_json(pod) is first  # the same version: the rendered bytes again
    task["now"] = "rebooting"
    assert orjson.loads(view.show_json(pod))["status"] == "REBOOT"
    task["now"] = None
    stopped = dict(pod, metadata=dict(pod["metadata"], resourceVersion="101"))
    stopped["status"] = dict(pod["status"], phase="Failed")
    assert orjson.loads(view.show_json(stopped)) == view.show(stopped)
    assert orjson.loads(view.show_json(stopped))["status"] != "ACTIVE"
    renamed = dict(pod, metadata=dict(pod["metadata"]))
    renamed["metadata"]["annotations"] = {**pod["metadata"]["annotations"], keys.DISPLAY_NAME: "batch-1"}
    assert orjson.loads(view.show_json(renamed))["name"] == "batch-1"


def test_show_of_a_pod_without_uid_or_version_is_never_memoized() -> None:
    view = ServerView(DEVSTACK_URL, PROJECT, version=(2, 100))
    pod = running_pod()
    pod["metadata"].pop("uid", None)
    pod["metadata"].pop("resourceVersion", None)
    before = len(server_view._rendered)
    assert orjson.loads(view.show_json(pod)) == view.show(pod)
    assert len(server_view._rendered) == before
