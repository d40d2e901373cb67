"""extproc.catalog: ConfigMap parsing, defaults, Arktos replies and the CatalogStore snapshots."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import orjson
import pytest
import yaml

from extproc.annotations import FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP
from extproc.catalog import SYSTEM_TENANT, CatalogStore
from extproc.catalog_configmaps import flavors_from_reply, images_from_reply, parse_flavors, parse_images
from extproc.catalog_entries import DEFAULT_FLAVORS, DEFAULT_IMAGES, Flavor, Image
from extproc.messages import ArktosReply
from tests.shared_fixtures import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES
REPO = Path(__file__).resolve().parents[2]
CIRROS_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"


def devstack(name: str) -> dict:
    return orjson.loads((FIXTURES / "devstack" / name).read_bytes())


def arktos(name: str) -> dict:
    return orjson.loads((FIXTURES / "arktos" / name).read_bytes())


def flavor_json(**fields: object) -> str:
    return orjson.dumps({"id": "x1", "ram": 64, "vcpus": 1, "disk": 1, **fields}).decode()


def image_json(**fields: object) -> str:
    return orjson.dumps(
        {"id": "11111111-2222-3333-4444-555555555555", "url": "example.org/a.img", **fields}
    ).decode()


# ---------------------------------------------------------------------------------------------------------
# Defaults


def test_default_flavors_are_devstack_in_nova_order() -> None:
    listed = devstack("05-get-compute-v2-1-flavors.json")["response_body"]["flavors"]
    assert [(f.id, f.name) for f in DEFAULT_FLAVORS] == [(f["id"], f["name"]) for f in listed]
    sizes = {f.id: (f.ram, f.vcpus, f.disk) for f in DEFAULT_FLAVORS}
    assert sizes == {
        "1": (512, 1, 1),
        "2": (2048, 1, 20),
        "3": (4096, 2, 40),
        "4": (8192, 4, 80),
        "42": (128, 1, 1),
        "5": (16384, 8, 160),
        "84": (192, 1, 1),
        "c1": (256, 1, 1),
        "d1": (512, 1, 5),
        "d2": (1024, 1, 10),
        "d3": (2048, 2, 10),
        "d4": (4096, 4, 20),
    }
    tiny = DEFAULT_FLAVORS[0]
    assert (tiny.ephemeral, tiny.swap, tiny.rxtx_factor, tiny.is_public, tiny.disabled) == (
        0,
        0,
        1.0,
        True,
        False,
    )
    assert dict(tiny.extra_specs) == {}


def test_default_image_is_devstack_cirros() -> None:
    fixture = devstack("11-get-image-v2-images-6db08272-a856-49da-8909-7c4c73ab0bac.json")["response_body"]
    (image,) = DEFAULT_IMAGES
    assert image.id == CIRROS_ID == fixture["id"]
    assert image.name == fixture["name"]
    assert image.url == "download.cirros-cloud.net/0.5.2/cirros-0.5.2-x86_64-disk.img"
    assert (image.size, image.checksum) == (16300544, "b874c39491a2377b8490f5f1e89761a4")
    assert (image.created_at, image.updated_at) == (fixture["created_at"], fixture["updated_at"])
    assert dict(image.properties) == {
        "hw_rng_model": "virtio",
        "owner_specified.openstack.md5": "",
        "owner_specified.openstack.object": "images/cirros-0.5.2-x86_64-disk",
        "owner_specified.openstack.sha256": "",
    }


def test_values_are_hashable_and_immutable() -> None:
    assert len({*DEFAULT_FLAVORS, *DEFAULT_FLAVORS}) == len(DEFAULT_FLAVORS)
    assert hash(DEFAULT_IMAGES[0])
    with pytest.raises(TypeError):
        DEFAULT_IMAGES[0].properties["x"] = "y"  # type: ignore[index]
    with pytest.raises(AttributeError):
        DEFAULT_FLAVORS[0].ram = 1  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------------
# Flavors


def test_parse_flavors_reads_the_recorded_arktos_configmap() -> None:
    data = arktos("25-cm-get.json")["body"]["data"]
    assert parse_flavors(data) == [Flavor(id="1", name="m1.tiny", ram=512, vcpus=1, disk=1)]


def test_parse_flavors_optional_fields_and_string_sort() -> None:
    data = {
        "b": flavor_json(id="5"),
        "a": flavor_json(
            id="42",
            ephemeral=10,
            swap=512,
            rxtx_factor=2,
            is_public=False,
            disabled=True,
            extra_specs={"hw:cpu_policy": "dedicated"},
        ),
        "c": flavor_json(id="c1", ephemeral=None),
        "d": flavor_json(id=7),  # an integer id is taken as its string
    }
    flavors = parse_flavors(data)
    assert [f.id for f in flavors] == ["42", "5", "7", "c1"]
    special = flavors[0]
    assert (special.name, special.ephemeral, special.swap, special.rxtx_factor) == ("a", 10, 512, 2.0)
    assert (special.is_public, special.disabled) == (False, True)
    assert dict(special.extra_specs) == {"hw:cpu_policy": "dedicated"}
    assert flavors[3].ephemeral == 0


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[1, 2]",
        '"a string"',
        orjson.dumps({"id": "1", "vcpus": 1, "disk": 1}).decode(),  # no ram
        flavor_json(ram=True),
        flavor_json(ram="512"),
        flavor_json(ram=0),
        flavor_json(vcpus=0),
        flavor_json(disk=-1),
        flavor_json(id="has space"),
        flavor_json(id="a/b"),
        flavor_json(id=""),
        flavor_json(id=None),
        flavor_json(rxtx_factor=0),
        flavor_json(is_public="yes"),
        flavor_json(extra_specs={"a": 1}),
        flavor_json(extra_specs=["a"]),
    ],
)
def test_parse_flavors_skips_bad_entries(value: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="extproc.catalog_configmaps"):
        flavors = parse_flavors({"bad": value, "good": flavor_json(id="g")})
    assert [f.name for f in flavors] == ["good"]
    assert any("bad" in r.getMessage() for r in caplog.records)


def test_parse_flavors_skips_duplicate_ids_and_non_string_values() -> None:
    flavors = parse_flavors({"one": flavor_json(id="1"), "two": flavor_json(id="1"), "three": 3})  # type: ignore[dict-item]
    assert [f.name for f in flavors] == ["one"]
    assert parse_flavors({}) == []
    assert parse_flavors(None) == []


def test_parse_flavors_ignores_unknown_keys(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="extproc.catalog_configmaps"):
        (flavor,) = parse_flavors({"f": flavor_json(colour="blue")})
    assert flavor.name == "f"
    assert "colour" in caplog.text


# ---------------------------------------------------------------------------------------------------------
# Images


def test_parse_images_fields_and_newest_first() -> None:
    data = {
        "old": image_json(id="AAAAAAAA-0000-0000-0000-000000000001", created_at="2020-01-01T00:00:00Z"),
        "new": image_json(
            id="00000000-0000-0000-0000-000000000002",
            created_at="2022-02-03T04:05:06+01:00",
            updated_at="2022-02-03T05:05:06.123456Z",
            visibility="private",
            disk_format="raw",
            container_format="ovf",
            size=10,
            virtual_size=20,
            min_ram=128,
            min_disk=2,
            checksum="c",
            owner="tenant1",
            protected=True,
            os_hidden=True,
            tags=["a", "b", "a"],
            properties={"os_distro": "cirros"},
        ),
        "plain": image_json(id="00000000-0000-0000-0000-000000000003"),
    }
    images = parse_images(data)
    assert [i.name for i in images] == ["new", "old", "plain"]
    new, old, plain = images
    assert old.id == "aaaaaaaa-0000-0000-0000-000000000001"  # canonical form
    assert (new.created_at, new.updated_at) == ("2022-02-03T03:05:06Z", "2022-02-03T05:05:06Z")
    assert (new.visibility, new.disk_format, new.container_format) == ("private", "raw", "ovf")
    assert (new.size, new.virtual_size, new.min_ram, new.min_disk) == (10, 20, 128, 2)
    assert (new.checksum, new.owner, new.protected, new.os_hidden) == ("c", "tenant1", True, True)
    assert new.tags == ("a", "b")
    assert dict(new.properties) == {"os_distro": "cirros"}
    assert plain == Image(id="00000000-0000-0000-0000-000000000003", name="plain", url="example.org/a.img")
    assert (plain.status, plain.created_at, plain.size) == ("active", "1970-01-01T00:00:00Z", None)


@pytest.mark.parametrize(
    "value",
    [
        "{",
        orjson.dumps({"id": CIRROS_ID}).decode(),  # no url
        image_json(id="not-a-uuid"),
        image_json(id=None),
        image_json(url=""),
        image_json(status="ACTIVE"),
        image_json(visibility="everyone"),
        image_json(disk_format="img"),
        image_json(container_format="zip"),
        image_json(size="big"),
        image_json(min_ram=-1),
        image_json(created_at="yesterday"),
        image_json(tags="a,b"),
        image_json(properties={"n": 1}),
        image_json(protected="no"),
        image_json(checksum="0" * 33),
        image_json(tags=[""]),
    ],
)
def test_parse_images_skips_bad_entries(value: str, caplog: pytest.LogCaptureFixture) -> None:
    good = image_json(id=CIRROS_ID)
    with caplog.at_level(logging.WARNING, logger="extproc.catalog_configmaps"):
        images = parse_images({"bad": value, "good": good})
    assert [i.name for i in images] == ["good"]
    assert "bad" in caplog.text


def test_parse_images_drops_properties_shadowing_glance_fields() -> None:
    (image,) = parse_images({"i": image_json(properties={"status": "killed", "name": "x", "os_distro": "d"})})
    assert dict(image.properties) == {"os_distro": "d"}
    assert image.status == "active"


def test_parse_images_duplicate_ids_keep_the_first() -> None:
    images = parse_images(
        {"a": image_json(), "b": image_json(id="11111111-2222-3333-4444-555555555555".upper())}
    )
    assert [i.name for i in images] == ["a"]


# ---------------------------------------------------------------------------------------------------------
# The example ConfigMaps an operator applies


def _configmap(name: str) -> dict:
    return yaml.safe_load((REPO / "k8s" / "catalog" / name).read_text())


def test_example_flavors_configmap_parses_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    document = _configmap("openstack-flavors.yaml")
    assert (document["kind"], document["metadata"]["name"]) == ("ConfigMap", FLAVORS_CONFIGMAP)
    with caplog.at_level(logging.WARNING, logger="extproc.catalog_configmaps"):
        flavors = parse_flavors(document["data"])
    assert caplog.records == []
    assert len(flavors) == len(document["data"])
    by_id = {f.id: f for f in flavors}
    assert all(by_id[f.id] == f for f in DEFAULT_FLAVORS)
    assert dict(by_id["g1"].extra_specs)["hw:cpu_policy"] == "dedicated"


def test_example_images_configmap_parses_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    document = _configmap("openstack-images.yaml")
    assert (document["kind"], document["metadata"]["name"]) == ("ConfigMap", IMAGES_CONFIGMAP)
    with caplog.at_level(logging.WARNING, logger="extproc.catalog_configmaps"):
        images = parse_images(document["data"])
    assert caplog.records == []
    assert len(images) == len(document["data"])
    assert DEFAULT_IMAGES[0] in images


# ---------------------------------------------------------------------------------------------------------
# Replies to the client-token ConfigMap GET


def _reply(status: int, body: object) -> ArktosReply:
    return ArktosReply(status=status, headers={}, body=orjson.dumps(body))


def test_flavors_from_reply() -> None:
    assert flavors_from_reply(_reply(200, arktos("25-cm-get.json")["body"])) == [
        Flavor(id="1", name="m1.tiny", ram=512, vcpus=1, disk=1)
    ]
    assert flavors_from_reply(_reply(200, {"kind": "ConfigMap", "metadata": {}})) == []
    # No ConfigMap: no flavors of its own (the tenant sees the cluster-wide set, catalog.visible_flavors).
    assert flavors_from_reply(_reply(404, {"kind": "Status", "code": 404})) == []
    assert flavors_from_reply(_reply(403, arktos("14-pod-get-notoken.json")["body"])) is None
    assert flavors_from_reply(_reply(401, arktos("15-pod-get-badtoken.json")["body"])) is None
    assert flavors_from_reply(_reply(200, {"kind": "Pod"})) is None
    assert flavors_from_reply(ArktosReply(status=200, headers={}, body=b"<html>")) is None


def test_images_from_reply() -> None:
    body = {"kind": "ConfigMap", "data": {"i": image_json()}}
    assert [i.name for i in images_from_reply(_reply(200, body)) or []] == ["i"]
    assert images_from_reply(_reply(404, {"kind": "Status", "code": 404})) == list(DEFAULT_IMAGES)
    assert images_from_reply(_reply(500, {"kind": "Status", "code": 500})) is None
    assert images_from_reply(_reply(200, {"kind": "ConfigMap", "data": ["x"]})) is None


# ---------------------------------------------------------------------------------------------------------
# CatalogStore


def test_store_defaults_for_unknown_and_short_path_tenants() -> None:
    store = CatalogStore()
    assert store.flavors(None) == list(DEFAULT_FLAVORS)
    assert store.flavors("tenant1") == list(DEFAULT_FLAVORS)
    assert store.images(None) == list(DEFAULT_IMAGES)
    assert store.images("tenant1") == list(DEFAULT_IMAGES)


def own(flavors: list[Flavor]) -> list[str]:
    """The ids of the flavors that are not the built-in (public) defaults."""
    return [f.id for f in flavors if f not in DEFAULT_FLAVORS]


def test_store_tenant_flavors_add_to_the_public_set_and_images_replace_the_defaults() -> None:
    store = CatalogStore()
    store.set_configmap("t1", FLAVORS_CONFIGMAP, {"small": flavor_json(id="s")})
    store.set_configmap("t1", IMAGES_CONFIGMAP, {"img": image_json()})
    store.set_configmap("t1", "something-else", {"x": flavor_json()})
    flavors = store.flavors("t1")
    assert own(flavors) == ["s"] and len(flavors) == len(DEFAULT_FLAVORS) + 1
    assert [f.id for f in flavors] == sorted(f.id for f in flavors)  # Nova's order, by id as strings
    assert [i.name for i in store.images("t1")] == ["img"]
    assert store.flavors("t2") == sorted(DEFAULT_FLAVORS, key=lambda f: f.id)
    assert store.flavors(None) == store.flavors("t2")  # an unknown tenant: the public flavors
    store.set_configmap("t1", FLAVORS_CONFIGMAP, {})
    assert own(store.flavors("t1")) == []
    store.set_configmap("t1", FLAVORS_CONFIGMAP, None)
    assert store.flavors("t1") == store.flavors("t2")
    assert [i.name for i in store.images("t1")] == ["img"]


def test_store_cluster_flavors_are_the_system_tenants_public_and_granted_ones() -> None:
    store = CatalogStore()
    store.set_configmap(
        SYSTEM_TENANT,
        FLAVORS_CONFIGMAP,
        {
            "pub": flavor_json(id="pub"),
            "priv": flavor_json(id="priv", is_public=False, projects=["t1"]),
            "hidden": flavor_json(id="hidden", is_public=False),
        },
        "10",
    )
    # The system tenant's ConfigMap replaces the built-in defaults as the cluster-wide set.
    assert [f.id for f in store.flavors("t2")] == ["pub"]
    assert [f.id for f in store.flavors("t1")] == ["priv", "pub"]
    assert [f.id for f in store.flavors(SYSTEM_TENANT)] == ["hidden", "priv", "pub"]
    assert [f.id for f in store.flavors(None)] == ["pub"]
    assert store.find_flavor("t2", "priv") is None
    assert store.tenants() == {SYSTEM_TENANT, "t1"}
    configmap = store.cluster_flavors_configmap()
    assert configmap is not None and configmap.resource_version == "10"
    assert dict(configmap.keys) == {"pub": "pub", "priv": "priv", "hidden": "hidden"}
    # A tenant's own flavor with an id of the cluster-wide set is not shown twice.
    own_data = {"again": flavor_json(id="pub"), "mine": flavor_json(id="m")}
    store.set_configmap("t2", FLAVORS_CONFIGMAP, own_data)
    assert [(f.id, f.name) for f in store.flavors("t2")] == [("m", "mine"), ("pub", "pub")]
    # An older version of the ConfigMap (a write's reply after the watch's newer event) is ignored.
    store.set_configmap(SYSTEM_TENANT, FLAVORS_CONFIGMAP, {}, "9")
    assert [f.id for f in store.flavors("t2")] == ["m", "pub"]


def test_store_replace_all_drops_what_the_relist_lacks() -> None:
    store = CatalogStore()
    store.set_configmap("gone", FLAVORS_CONFIGMAP, {"g": flavor_json()})
    store.replace_all(
        [
            ("t1", FLAVORS_CONFIGMAP, {"a": flavor_json(id="a")}, "7"),
            ("t2", IMAGES_CONFIGMAP, {"i": image_json()}, "8"),
            ("t3", "unrelated", {"z": "z"}, "9"),
        ]
    )
    assert own(store.flavors("gone")) == []
    assert own(store.flavors("t1")) == ["a"]
    assert store.images("t1") == list(DEFAULT_IMAGES)
    assert [i.name for i in store.images("t2")] == ["i"]


def test_store_lookups() -> None:
    store = CatalogStore()
    assert store.find_flavor(None, "1") == DEFAULT_FLAVORS[0]
    assert store.find_flavor(None, "m1.tiny") == DEFAULT_FLAVORS[0]
    assert store.find_flavor(None, "nope") is None
    store.set_configmap(
        "t",
        FLAVORS_CONFIGMAP,
        {"x2": flavor_json(id="x1"), "m1": flavor_json(id="x2"), "dup": flavor_json(id="x3")},
    )
    # id first: "x2" is flavor id x2 (named "m1"), not the flavor named "x2"
    assert store.find_flavor("t", "x2").name == "m1"  # type: ignore[union-attr]
    assert store.find_flavor("t", "x1").name == "x2"  # type: ignore[union-attr]
    assert store.find_flavor("t", "m1.tiny") == DEFAULT_FLAVORS[0]  # public: every tenant's
    assert store.find_flavor("other", "m1") is None

    store.set_configmap(
        "t",
        IMAGES_CONFIGMAP,
        {
            "same": image_json(id="00000000-0000-0000-0000-00000000000a", url="https://h/x.img"),
            "other": image_json(id="00000000-0000-0000-0000-00000000000b", url="h/y.img"),
        },
    )
    assert store.find_image("t", "00000000-0000-0000-0000-00000000000A").name == "same"  # type: ignore[union-attr]
    assert store.find_image("t", "other").id == "00000000-0000-0000-0000-00000000000b"  # type: ignore[union-attr]
    assert store.find_image("t", "missing") is None
    assert store.find_image(None, "cirros-0.5.2-x86_64-disk") == DEFAULT_IMAGES[0]
    assert store.image_by_url("t", "https://h/x.img").name == "same"  # type: ignore[union-attr]
    assert store.image_by_url("t", "h/x.img").name == "same"  # type: ignore[union-attr]
    assert store.image_by_url("t", "http://h/y.img").name == "other"  # type: ignore[union-attr]
    assert store.image_by_url("t", "h/z.img") is None
    assert store.image_by_url(None, DEFAULT_IMAGES[0].url) == DEFAULT_IMAGES[0]


def test_store_image_id_wins_over_a_name() -> None:
    store = CatalogStore()
    store.set_configmap(
        "t",
        IMAGES_CONFIGMAP,
        {
            "00000000-0000-0000-0000-00000000000b": image_json(id="00000000-0000-0000-0000-00000000000a"),
            "b": image_json(id="00000000-0000-0000-0000-00000000000b"),
        },
    )
    assert store.find_image("t", "00000000-0000-0000-0000-00000000000b").name == "b"  # type: ignore[union-attr]
    assert store.find_image("t", "00000000-0000-0000-0000-00000000000a").id.endswith("a")  # type: ignore[union-attr]


def test_store_readers_keep_their_snapshot() -> None:
    store = CatalogStore()
    store.set_configmap("t", FLAVORS_CONFIGMAP, {"a": flavor_json(id="a")})
    before = store.flavors("t")
    store.set_configmap("t", FLAVORS_CONFIGMAP, {"b": flavor_json(id="b")})
    assert own(before) == ["a"]
    before.clear()  # a caller mutating its list cannot touch the store
    assert own(store.flavors("t")) == ["b"]


def test_store_concurrent_writers_and_readers() -> None:
    store = CatalogStore()
    errors: list[BaseException] = []

    def writer(tenant: str) -> None:
        try:
            for n in range(200):
                store.set_configmap(tenant, FLAVORS_CONFIGMAP, {f"f{n}": flavor_json(id=f"id{n}")})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(2000):
                for tenant in ("a", "b"):
                    assert len(own(store.flavors(tenant))) <= 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("a", "b")]
    threads.append(threading.Thread(target=reader))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Neither writer lost the other's last update.
    assert own(store.flavors("a")) == ["id199"]
    assert own(store.flavors("b")) == ["id199"]
