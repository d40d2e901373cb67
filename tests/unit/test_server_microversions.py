"""Server microversions: every gated field of the view, the create/update/rebuild schemas and the replies,
at the microversion below its gate and at it (nova/api/openstack/compute/views/servers.py and
schemas/servers.py)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import orjson
import pytest

from extproc import annotations as keys
from extproc import headers
from extproc.catalog_entries import Flavor, Image
from extproc.compute import action_request, actions, create_request, list_query, schemas, server_item
from extproc.compute.server_fields import default_hostname
from extproc.compute.server_view import ServerView
from extproc.messages import ClientRequest, Reply
from tests.unit.test_actions import ctx as actions_ctx
from tests.unit.test_actions import post
from tests.unit.test_compute_view import IMAGE_ID, catalog_lookup, running_pod

Version = tuple[int, int]
GROUP = "5b1e6f2c-7e0a-4c1b-9d3e-2f4a5b6c7d8e"
FLAVOR_SNAPSHOT = {
    "vcpus": 1,
    "ram": 512,
    "disk": 1,
    "ephemeral": 0,
    "swap": 0,
    "original_name": "m1.tiny",
    "extra_specs": {"hw:cpu_policy": "shared"},
}


def below(version: Version) -> Version:
    return (version[0], version[1] - 1)


def recorded_pod() -> dict[str, Any]:
    """A running VM pod with everything a create at the newest microversion records."""
    pod = running_pod()
    pod["metadata"]["annotations"].update(
        {
            keys.DESCRIPTION: orjson.dumps("the web").decode(),
            keys.TAGS: '["a", "b"]',
            keys.HOSTNAME: "web1",
            keys.PINNED_AZ: "nova",
            keys.SCHEDULER_HINTS: orjson.dumps({"same_host": [IMAGE_ID]}).decode(),
            keys.FLAVOR: orjson.dumps(FLAVOR_SNAPSHOT).decode(),
            keys.IMAGE_PROPERTIES: '{"hw_rng_model": "virtio"}',
            keys.LOCKED_BY: "owner",
            keys.LOCKED_REASON: "maintenance",
        }
    )
    pod["metadata"]["labels"][keys.SERVER_GROUP_LABEL] = GROUP
    return pod


def view(version: Version, **kwargs: Any) -> ServerView:
    return ServerView("http://gw", "demo", catalog_lookup, version=version, **kwargs)


# (microversion, field, value shown from it for ``recorded_pod``): Nova's view, field by field.
SHOWN_FROM: list[tuple[Version, str, Any]] = [
    ((2, 9), "locked", True),
    ((2, 19), "description", "the web"),
    ((2, 26), "tags", ["a", "b"]),
    ((2, 63), "trusted_image_certificates", None),
    ((2, 71), "server_groups", [GROUP]),
    ((2, 73), "locked_reason", "maintenance"),
    ((2, 90), "OS-EXT-SRV-ATTR:hostname", "web1"),
    ((2, 96), "pinned_availability_zone", "nova"),
    ((2, 100), "scheduler_hints", {"same_host": [IMAGE_ID]}),
]


@pytest.mark.parametrize(("version", "field", "value"), SHOWN_FROM)
def test_show_has_each_field_from_its_microversion(version: Version, field: str, value: Any) -> None:
    assert field not in view(below(version)).show(recorded_pod())
    assert view(version).show(recorded_pod())[field] == value
    assert view(headers.MAX_COMPUTE_VERSION).show(recorded_pod())[field] == value


@pytest.mark.parametrize(("version", "field", "value"), SHOWN_FROM)
def test_detail_items_follow_show_except_server_groups(version: Version, field: str, value: Any) -> None:
    (below_item,) = view(below(version)).detail([recorded_pod()])
    (item,) = view(version).detail([recorded_pod()])
    assert field not in below_item
    if field == "server_groups":
        # Nova shows server_groups in show, PUT and rebuild, never in the detail list (2.71).
        assert field not in item
    else:
        assert item[field] == value


def test_admin_only_fields_are_never_shown() -> None:
    # 2.3's extended attributes and 2.16's host_status are admin-only in Nova's default policy.
    server = view(headers.MAX_COMPUTE_VERSION).show(recorded_pod())
    assert "host_status" not in server
    assert [k for k in server if k.startswith("OS-EXT-SRV-ATTR:")] == ["OS-EXT-SRV-ATTR:hostname"]


def test_fields_of_a_pod_without_records() -> None:
    # A pod from before the gateway recorded them (or made by hand): Nova's values for "never set".
    pod = running_pod()
    server = view(headers.MAX_COMPUTE_VERSION).show(pod)
    assert server["description"] is None
    assert server["tags"] == []
    assert server["server_groups"] == []
    assert server["locked"] is False
    assert server["locked_reason"] is None
    assert server["OS-EXT-SRV-ATTR:hostname"] == "test-2"
    assert server["pinned_availability_zone"] is None
    assert server["scheduler_hints"] == {}
    assert server["image"]["properties"] == {}


def test_flavor_is_embedded_from_2_47() -> None:
    pod = recorded_pod()
    link = view((2, 46)).show(pod)["flavor"]
    assert link == {"id": "1", "links": [{"rel": "bookmark", "href": "http://gw/compute/demo/flavors/1"}]}
    assert view((2, 47)).show(pod)["flavor"] == FLAVOR_SNAPSHOT
    (item,) = view((2, 47)).detail([pod])
    assert item["flavor"] == FLAVOR_SNAPSHOT


def test_embedded_flavor_without_a_snapshot_comes_from_the_catalog_then_the_pod() -> None:
    pod = running_pod()
    catalog = Flavor(id="1", name="m1.tiny", ram=512, vcpus=1, disk=1, swap=0, extra_specs={"k": "v"})
    found = view((2, 47), flavor_lookup=lambda tenant, fid: catalog if fid == "1" else None).show(pod)
    assert found["flavor"] == {
        "vcpus": 1,
        "ram": 512,
        "disk": 1,
        "ephemeral": 0,
        "swap": 0,
        "original_name": "m1.tiny",
        "extra_specs": {"k": "v"},
    }
    pod["spec"]["virtualMachine"]["resources"] = {"limits": {"cpu": "2", "memory": "1Gi"}}
    gone = view((2, 47), flavor_lookup=lambda tenant, fid: None).show(pod)["flavor"]
    assert (gone["vcpus"], gone["ram"], gone["original_name"]) == (2, 1024, "1")


def test_image_properties_from_2_98() -> None:
    pod = recorded_pod()
    assert "properties" not in view((2, 97)).show(pod)["image"]
    assert view((2, 98)).show(pod)["image"]["properties"] == {"hw_rng_model": "virtio"}


def test_update_reply_is_show_from_2_75() -> None:
    pod = recorded_pod()
    before = view((2, 74)).update(pod)
    assert "OS-EXT-STS:vm_state" not in before and "key_name" not in before
    # Nova's PUT reply has the lock (2.9) and the groups (2.71) whatever else it leaves out.
    assert before["locked"] is True and before["server_groups"] == [GROUP]
    assert view((2, 75)).update(pod) == view((2, 75)).show(pod)
    assert view(headers.MAX_COMPUTE_VERSION).update(pod) == view(headers.MAX_COMPUTE_VERSION).show(pod)


def test_rebuild_reply_by_microversion() -> None:
    pod = recorded_pod()
    pod["metadata"]["annotations"][keys.KEY_NAME] = "mykey"
    pod["spec"]["virtualMachine"]["userData"] = base64.b64encode(b"aGk=").decode()
    assert "key_name" not in view((2, 53)).rebuild(pod)
    assert view((2, 54)).rebuild(pod)["key_name"] == "mykey"
    assert "user_data" not in view((2, 56)).rebuild(pod)
    assert view((2, 57)).rebuild(pod)["user_data"] == "aGk="
    assert "server_groups" not in view((2, 70)).rebuild(pod)
    assert view((2, 71)).rebuild(pod)["server_groups"] == [GROUP]
    assert "OS-EXT-STS:vm_state" not in view((2, 74)).rebuild(pod)
    full = view((2, 75)).rebuild(pod)
    assert {k: v for k, v in full.items() if k != "user_data"} == view((2, 75)).show(pod)


def test_default_hostname_is_novas_sanitized_name() -> None:
    assert default_hostname("Web Server #1", "x") == "web-server-1"
    assert default_hostname("a_b.c", "x") == "a-b-c"
    assert default_hostname("..--", "abc") == "Server-abc"
    assert default_hostname("ü" * 70, "x") == "ü" * 63


# -- schemas --------------------------------------------------------------------------------------------

IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b"
NET = "3e1a5c6e-7d2b-4c8f-9a0b-1c2d3e4f5a6b"


def create_body(**fields: Any) -> dict[str, Any]:
    return {"server": {"name": "vm", "imageRef": IMAGE, "flavorRef": "1", **fields}}


# (microversion accepting it first, field values): refused as unknown one microversion below.
CREATE_FIELDS_FROM: list[tuple[Version, dict[str, Any]]] = [
    ((2, 19), {"description": "d"}),
    ((2, 32), {"networks": [{"uuid": NET, "tag": "nic1"}]}),
    ((2, 37), {"networks": "auto"}),
    ((2, 42), {"networks": [{"uuid": NET, "tag": "nic1"}]}),
    ((2, 52), {"networks": "auto", "tags": ["t"]}),
    ((2, 63), {"networks": "auto", "trusted_image_certificates": None}),
    ((2, 74), {"networks": "auto", "host": "node-a"}),
    ((2, 90), {"networks": "auto", "hostname": "web1"}),
    ((2, 94), {"networks": "auto", "hostname": "web1.example.org"}),
]


@pytest.mark.parametrize(("version", "fields"), CREATE_FIELDS_FROM)
def test_create_schema_takes_each_field_from_its_microversion(
    version: Version, fields: dict[str, Any]
) -> None:
    assert schemas.validate_create(create_body(**fields), below(version)) is not None
    assert schemas.validate_create(create_body(**fields), version) is None


def test_networks_are_required_from_2_37() -> None:
    assert schemas.validate_create(create_body(), (2, 36)) is None
    problem = schemas.validate_create(create_body(), (2, 37))
    assert problem is not None and "'networks' is a required property" in problem
    # 2.37 also requires network ids to be UUIDs in the schema.
    assert schemas.validate_create(create_body(networks=[{"uuid": "net1"}]), (2, 36)) is None
    assert schemas.validate_create(create_body(networks=[{"uuid": "net1"}]), (2, 37)) is not None


def test_the_nic_tag_lost_between_2_37_and_2_42() -> None:
    tagged = create_body(networks=[{"uuid": NET, "tag": "nic1"}])
    assert [
        v
        for v in [(2, 31), (2, 32), (2, 36), (2, 37), (2, 41), (2, 42)]
        if schemas.validate_create(tagged, v)
    ] == [
        (2, 31),
        (2, 37),
        (2, 41),
    ]
    bdm = create_body(
        networks="auto",
        block_device_mapping_v2=[{"uuid": IMAGE, "source_type": "image", "boot_index": 0, "tag": "d"}],
    )
    # The BDM tag: 2.32 only, then from 2.42.
    assert schemas.validate_create(bdm, (2, 41)) is not None
    assert schemas.validate_create(bdm, (2, 42)) is None
    typed = create_body(networks="auto", block_device_mapping_v2=[{"uuid": IMAGE, "volume_type": "ssd"}])
    assert schemas.validate_create(typed, (2, 66)) is not None
    assert schemas.validate_create(typed, (2, 67)) is None


def test_personality_is_gone_from_2_57() -> None:
    files = [{"path": "/etc/motd", "contents": base64.b64encode(b"hi").decode()}]
    assert schemas.validate_create(create_body(networks="auto", personality=files), (2, 56)) is None
    assert schemas.validate_create(create_body(networks="auto", personality=files), (2, 57)) is not None


def test_hostname_is_a_host_name_until_2_94() -> None:
    fqdn = create_body(networks="auto", hostname="web1.example.org")
    assert schemas.validate_create(fqdn, (2, 93)) is not None
    assert schemas.validate_create(fqdn, (2, 94)) is None


@pytest.mark.parametrize("description", ["a\x00b", "tab\tok? no", "\U0001f600"])
def test_description_is_printable_characters(description: str) -> None:
    assert schemas.validate_create(create_body(description=description), (2, 19)) is not None


def test_create_request_records_what_later_microversions_show() -> None:
    old = create_request.parse_create(create_body(), (2, 18))
    assert isinstance(old, create_request.CreateRequest)
    # Nova keeps the name as the description below 2.19, none from 2.19 unless given.
    assert old.description == "vm"
    new = create_request.parse_create(create_body(), (2, 19))
    assert isinstance(new, create_request.CreateRequest) and new.description is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hostname": "web1", "max_count": 2}, create_request.AMBIGUOUS_HOSTNAME),
        ({"host": "node-a"}, create_request.REQUESTED_DESTINATION_UNSUPPORTED),
        ({"trusted_image_certificates": ["c1"]}, create_request.trusted_certs_unsupported("c1")),
    ],
)
def test_create_refusals_of_later_microversions(fields: dict[str, Any], message: str) -> None:
    body = create_body(networks="auto", **fields)
    assert create_request.parse_create(body, headers.MAX_COMPUTE_VERSION) == message


UPDATE_FIELDS_FROM: list[tuple[Version, dict[str, Any]]] = [
    ((2, 19), {"description": None}),
    ((2, 90), {"hostname": "web2"}),
    ((2, 94), {"hostname": "web2.example.org"}),
    ((2, 104), {"pinned_availability_zone": None}),
]


@pytest.mark.parametrize(("version", "fields"), UPDATE_FIELDS_FROM)
def test_update_schema_takes_each_field_from_its_microversion(
    version: Version, fields: dict[str, Any]
) -> None:
    assert schemas.validate_update({"server": fields}, below(version)) is not None
    assert schemas.validate_update({"server": fields}, version) is None


def test_pin_change() -> None:
    unpinned = running_pod()
    pinned = recorded_pod()
    assert server_item.pin_change(None, pinned) == ""
    assert server_item.pin_change("nova", unpinned) == "nova"
    assert server_item.pin_change("nova", pinned) == "nova"
    other = server_item.pin_change("az2", unpinned)
    assert not isinstance(other, str) and other.status == 409
    assert b"Server can only be pinned to its current availability zone 'nova'" in other.body
    changed = server_item.pin_change("az2", pinned)
    assert not isinstance(changed, str) and b"Unpin first" in changed.body


REBUILD_FIELDS_FROM: list[tuple[Version, dict[str, Any]]] = [
    ((2, 19), {"description": "d"}),
    ((2, 54), {"key_name": None}),
    ((2, 57), {"user_data": None}),
    ((2, 63), {"trusted_image_certificates": None}),
    ((2, 90), {"hostname": "web2"}),
]


@pytest.mark.parametrize(("version", "fields"), REBUILD_FIELDS_FROM)
def test_rebuild_schema_takes_each_field_from_its_microversion(
    version: Version, fields: dict[str, Any]
) -> None:
    body = {"rebuild": {"imageRef": IMAGE, **fields}}
    assert isinstance(action_request.parse_action(body, below(version)), str)
    assert isinstance(action_request.parse_action(body, version), action_request.ActionRequest)


def test_rebuild_personality_until_2_57() -> None:
    body = {"rebuild": {"imageRef": IMAGE, "personality": []}}
    assert isinstance(action_request.parse_action(body, (2, 56)), action_request.ActionRequest)
    assert isinstance(action_request.parse_action(body, (2, 57)), str)


def test_rebuild_patch_carries_the_later_fields() -> None:
    parsed = action_request.parse_action(
        {"rebuild": {"imageRef": IMAGE, "description": None, "hostname": "h2", "user_data": "aGk="}},
        headers.MAX_COMPUTE_VERSION,
    )
    assert isinstance(parsed, action_request.ActionRequest)
    target = Image(id=IMAGE, name="i", url="example.org/i.img")
    key = action_request.RebuildKey(None, "", "default")
    ops = action_request.rebuild_patch(running_pod(), target, None, None, action=parsed, key=key)
    values = {op["path"]: op.get("value") for op in ops}
    assert values["/metadata/annotations/openstack.arktos.io~1description"] == "null"
    assert values["/metadata/annotations/openstack.arktos.io~1hostname"] == "h2"
    assert values["/metadata/annotations/openstack.arktos.io~1key-name"] == ""
    # Arktos keeps a VM's user data (action_request.USER_DATA_UNCHANGEABLE): never patched.
    assert "/spec/virtualMachine/userData" not in values
    assert values["/spec/virtualMachine/publicKey"] == ""
    assert values["/spec/virtualMachine/keyPairName"] == "default"


# -- list filters ---------------------------------------------------------------------------------------


def list_request(**query: Any) -> ClientRequest:
    multi = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    return ClientRequest("GET", "/compute/v2.1/demo/servers", multi, {"x-auth-token": "t"}, b"")


def parsed_query(version: Version, **query: Any) -> list_query.ListQuery:
    found = list_query.parse_list_query(list_request(**query), None, version)
    assert isinstance(found, list_query.ListQuery), found
    return found


def refusal(version: Version, **query: Any) -> str:
    found = list_query.parse_list_query(list_request(**query), None, version)
    assert isinstance(found, Reply)
    assert found.status == 400
    message: str = orjson.loads(found.body)["badRequest"]["message"]
    return message


def test_unknown_list_parameters_are_a_400_from_2_75() -> None:
    assert parsed_query((2, 74), bogus="1", deleted="False").limit == list_query.MAX_LIMIT
    assert refusal((2, 75), bogus="1") == "Additional properties are not allowed ('bogus' was unexpected)"
    # What Nova's schema knows stays accepted (osc sends deleted=False).
    assert parsed_query((2, 75), deleted="False", sort_key="display_name").limit == list_query.MAX_LIMIT


def test_an_unknown_status_is_a_400_from_2_38() -> None:
    assert parsed_query((2, 37), status="NOPE").statuses == frozenset({"NOPE"})
    assert refusal((2, 38), status="NOPE") == "Invalid status value"
    assert parsed_query((2, 38), status="active").statuses == frozenset({"ACTIVE"})


def tagged_pod(*tags: str) -> dict[str, Any]:
    pod = running_pod()
    # Lists read pods' facts memoized by (uid, resourceVersion): one uid per content.
    pod["metadata"]["uid"] = "tagged-" + "-".join(tags)
    pod["metadata"]["annotations"][keys.TAGS] = orjson.dumps(list(tags)).decode()
    return pod


@pytest.mark.parametrize(
    ("parameter", "value", "kept"),
    [
        ("tags", "a,b", ["ab", "abc"]),
        ("tags-any", "a,c", ["a", "ab", "abc", "c"]),
        ("not-tags", "a,b", ["", "a", "c"]),
        ("not-tags-any", "a,b", ["", "c"]),
    ],
)
def test_tag_filters_from_2_26(parameter: str, value: str, kept: list[str]) -> None:
    pods = {name: tagged_pod(*name) for name in ["", "a", "ab", "abc", "c"]}
    older = parsed_query((2, 25), **{parameter: value})
    assert [n for n, p in pods.items() if older.wants(p)] == list(pods)
    newer = parsed_query((2, 26), **{parameter: value})
    assert [n for n, p in pods.items() if newer.wants(p)] == kept


def test_changes_before_from_2_66() -> None:
    pod = running_pod()  # updated 2021-11-16T22:52:10Z
    assert parsed_query((2, 65), **{"changes-before": "2000-01-01T00:00:00Z"}).wants(pod)
    assert not parsed_query((2, 66), **{"changes-before": "2000-01-01T00:00:00Z"}).wants(pod)
    assert parsed_query((2, 66), **{"changes-before": "2030-01-01T00:00:00Z"}).wants(pod)
    assert (
        refusal(
            (2, 66), **{"changes-since": "2030-01-01T00:00:00Z", "changes-before": "2020-01-01T00:00:00Z"}
        )
        == "The value of changes-since must be less than or equal to changes-before."
    )


def test_locked_filter_from_2_73() -> None:
    locked = recorded_pod()
    free = running_pod()
    assert parsed_query((2, 72), locked="true").wants(free)
    query = parsed_query((2, 73), locked="true")
    assert query.wants(locked) and not query.wants(free)
    assert refusal((2, 73), locked="maybe").startswith("Invalid input received: Unrecognized value 'maybe'")


def test_ip6_filter_from_2_5_and_hostname_from_2_90() -> None:
    pod = running_pod()  # 10.0.0.7, hostname test-2
    pod["metadata"]["uid"] = "unrecorded"
    assert parsed_query((2, 4), ip6="fd00").wants(pod)
    assert not parsed_query((2, 5), ip6="fd00").wants(pod)
    assert parsed_query((2, 89), hostname="nomatch").wants(pod)
    assert not parsed_query((2, 90), hostname="nomatch").wants(pod)
    assert parsed_query((2, 90), hostname="^test").wants(pod)


@pytest.mark.parametrize(
    ("action", "served", "gone"),
    [
        ("trigger_crash_dump", (2, 17), (2, 16)),
        ("addFloatingIp", (2, 43), (2, 44)),
        ("os-getVNCConsole", (2, 5), (2, 6)),
    ],
)
def test_actions_nova_serves_in_a_range_of_microversions(action: str, served: Version, gone: Version) -> None:
    body = {action: {"address": "10.0.0.1"} if action == "addFloatingIp" else None}
    sid = {"server_id": "s1", "project_id": "demo"}

    def call(version: Version) -> Any:
        context = dataclasses.replace(actions_ctx(), compute_version=version)
        return actions.server_action(context, post(body), sid)

    missing = call(gone)
    assert isinstance(missing, Reply) and missing.status == 404
    assert orjson.loads(missing.body)["itemNotFound"]["message"] == "The resource could not be found."
    answered = actions.server_action(
        dataclasses.replace(actions_ctx(), compute_version=served), post(body), sid
    )
    assert not (isinstance(answered, Reply) and answered.status == 404)


def test_show_query_is_strict_from_2_102() -> None:
    query = ClientRequest(
        "GET", f"/compute/v2.1/demo/servers/{IMAGE}", {"x": ["1"]}, {"x-auth-token": "t"}, b""
    )

    def show(version: Version) -> Any:
        context = dataclasses.replace(actions_ctx(), compute_version=version)
        return server_item.show_server(context, query, {"server_id": IMAGE})

    assert not isinstance(show((2, 101)), Reply)
    strict = show((2, 102))
    assert isinstance(strict, Reply) and strict.status == 400
    message = orjson.loads(strict.body)["badRequest"]["message"]
    assert message == "Additional properties are not allowed ('x' was unexpected)"
