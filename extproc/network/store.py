"""The processor's watch-fed index of every tenant's Networks: Neutron id (uid) -> network.

Neutron names a network by its id in URLs and in a server create's ``networks``; Arktos by its name in its
tenant. ``NetworkStore`` resolves one to the other. It is a cache, never the truth: what a client reads is
always Arktos's answer to the client's own token (the handlers forward reads), and a write the store
resolves goes to the tenant the store names, where Arktos authorizes it (another tenant's id gets Arktos's
403, answered as the same 404 as an unknown id). Replies to the network writes this processor relays
update it at once (read-your-writes), as the keypair store does.

``NetworkWatch`` is the ``Reflector`` on ``/apis/arktos.futurewei.com/v1/tenants/all/networks`` (the
processor's own credential). Used only on the asyncio loop (watch events are applied there), so no lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import structlog

from extproc import arktos_paths
from extproc.arktos_watch import Reflector
from extproc.network.objects import ArktosNetwork, from_object

log = structlog.get_logger("extproc.network.store")

Json = dict[str, Any]


class NetworkStore:
    def __init__(self) -> None:
        self._by_uid: dict[str, ArktosNetwork] = {}
        self._by_name: dict[tuple[str, str], ArktosNetwork] = {}
        # True once a list has been applied (before that, an unknown id proves nothing).
        self.synced = False

    def by_uid(self, uid: str) -> ArktosNetwork | None:
        return self._by_uid.get(uid)

    def by_name(self, tenant: str, name: str) -> ArktosNetwork | None:
        return self._by_name.get((tenant, name))

    def of_tenant(self, tenant: str) -> list[ArktosNetwork]:
        return [n for (t, _), n in self._by_name.items() if t == tenant]

    def put(self, network: ArktosNetwork) -> None:
        old = self._by_name.get((network.tenant, network.name))
        if old is not None and old.uid != network.uid:
            self._by_uid.pop(old.uid, None)
        self._by_uid[network.uid] = network
        self._by_name[(network.tenant, network.name)] = network

    def remove(self, uid: str) -> None:
        network = self._by_uid.pop(uid, None)
        if network is not None and self._by_name.get((network.tenant, network.name)) is network:
            del self._by_name[(network.tenant, network.name)]

    def replace_all(self, items: Iterable[Json]) -> None:
        self._by_uid.clear()
        self._by_name.clear()
        for item in items:
            network = from_object(item)
            if network is not None:
                self.put(network)
        self.synced = True

    def apply_event(self, event_type: str, obj: Json) -> None:
        network = from_object(obj)
        if network is None:
            return
        if event_type == "DELETED":
            self.remove(network.uid)
        else:
            self.put(network)


class NetworkWatch(Reflector):
    def __init__(
        self,
        store: NetworkStore,
        api_client: Any,
        apply: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.store = store
        super().__init__(
            api_client,
            arktos_paths.all_tenants_networks(),
            self._listed,
            store.apply_event,
            name="networks",
            apply=apply,
        )

    def _listed(self, items: list[Json]) -> None:
        self.store.replace_all(items)
        log.info("networks_synced", networks=len(items))
