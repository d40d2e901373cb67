"""Label and annotation keys the gateway writes on Arktos objects (readers and writers share them)."""

from __future__ import annotations

PREFIX = "openstack.arktos.io/"

# Annotations on VM pods.
DISPLAY_NAME = PREFIX + "display-name"
FLAVOR_ID = PREFIX + "flavor-id"
IMAGE_ID = PREFIX + "image-id"
KEY_NAME = PREFIX + "key-name"
USER_ID = PREFIX + "user-id"
METADATA = PREFIX + "metadata"  # JSON object: Nova server metadata
CREATED_BY = PREFIX + "created-by"
CREATED_BY_GATEWAY = "openstack-gateway"
# The X-OpenStack-Request-ID of the create that made the pod (its name derives from it: compute.idempotency).
CLIENT_REQUEST_ID = PREFIX + "client-request-id"
# Nova's accessIPv4 / accessIPv6: addresses the user records on a server (create, PUT); Arktos ignores them.
ACCESS_IPV4 = PREFIX + "access-ipv4"
ACCESS_IPV6 = PREFIX + "access-ipv6"
# Nova's server lock (extproc.compute.server_lock): ``owner`` while the server is locked, ABSENT when it is
# not (a JSON-patch ``test`` for null passes on an absent annotation in Arktos, so every guarded write tests
# it); the reason given with the lock (microversion 2.73), absent without one.
LOCKED_BY = PREFIX + "locked-by"
LOCKED_REASON = PREFIX + "locked-reason"
# What a create (or a later PUT/rebuild) records for the server view's later-microversion fields, each absent
# until written: the description (2.19; JSON so that null and "" differ), the tags (2.26/2.52, a JSON list),
# the hostname (2.90), the zone the create asked for (2.96's pinned_availability_zone), the scheduler hints
# (2.100, JSON object of lists), and Nova's snapshots taken at boot: the flavor (2.47, JSON) and the image's
# standard properties (2.98, JSON object).
DESCRIPTION = PREFIX + "description"
TAGS = PREFIX + "tags"
HOSTNAME = PREFIX + "hostname"
PINNED_AZ = PREFIX + "pinned-availability-zone"
SCHEDULER_HINTS = PREFIX + "scheduler-hints"
FLAVOR = PREFIX + "flavor"
IMAGE_PROPERTIES = PREFIX + "image-properties"

# Nova instance actions, one annotation per action on the VM pod: "<prefix><request id>" -> JSON object
# (extproc.compute.instance_actions). Its own DNS prefix: the request id is the key's name part.
INSTANCE_ACTION_PREFIX = "instance-action.openstack.arktos.io/"

# Batch members (pods of a multi-create ReplicaSet): the template carries the batch size, which marks a pod
# as a member; the batch reconciler writes the member's index (and display name "name-<index>").
BATCH_SIZE = PREFIX + "batch-size"
BATCH_INDEX = PREFIX + "batch-index"
# Only ever on the processor's cached copy of a pod, never written to Arktos: the batch member the create
# reply answered with (see extproc.compute.batch).
FIRST_MEMBER = PREFIX + "first-member"

# Labels on VM pods and batch ReplicaSets (selectable by Arktos).
RESERVATION_ID = PREFIX + "reservation-id"

# ConfigMaps (in each tenant's gateway namespace) that hold the flavors and images of that tenant.
FLAVORS_CONFIGMAP = "openstack-flavors"
IMAGES_CONFIGMAP = "openstack-images"

# ConfigMaps holding one Nova keypair each (see extproc.keypair_store): this label marks and lists them.
KEYPAIR_LABEL = PREFIX + "keypair"

# Nova server groups (see extproc.server_group_store): the label marks and lists the group's ConfigMap, and on
# a VM pod names the group the server belongs to (its value is the group id; the pod's (anti-)affinity
# selects the group's pods by it).
SERVER_GROUP_LABEL = PREFIX + "server-group"
