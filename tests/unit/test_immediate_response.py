"""extproc.ext_proc_messages.immediate: the ImmediateResponse carrying a reply, built field by field, is the
message the nested constructors built (status, every header in order with OVERWRITE_IF_EXISTS_OR_ADD, body,
details)."""

from __future__ import annotations

import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.type.v3 import http_status_pb2

from extproc.ext_proc_messages import immediate
from extproc.messages import Reply


def constructed(reply: Reply, details: str) -> pb.ProcessingResponse:
    """The message as nested constructors build it (what ``immediate`` did before lever (q3))."""
    headers = [
        base_pb2.HeaderValueOption(
            header=base_pb2.HeaderValue(key=k, raw_value=v.encode("utf-8", "surrogateescape")),
            append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
        )
        for k, v in reply.headers.items()
    ]
    return pb.ProcessingResponse(
        immediate_response=pb.ImmediateResponse(
            status=http_status_pb2.HttpStatus(code=reply.status),
            headers=pb.HeaderMutation(set_headers=headers),
            body=reply.body,
            details=details,
        )
    )


REQUEST_ID = "req-3f2b0a4e-8a43-4b7f-9a53-2a8e3f1f1c11"
REPLIES = [
    Reply(200, b'{"flavors":[]}', {"content-type": "application/json", "x-openstack-request-id": REQUEST_ID}),
    Reply(
        300,
        b"x" * 70_000,  # lengths past one varint byte, and past two
        {
            "content-type": "application/json",
            "openstack-api-version": "compute 2.1",
            "x-openstack-nova-api-version": "2.1",
            "vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
            "x-compute-request-id": REQUEST_ID,
            "x-openstack-request-id": REQUEST_ID,
        },
    ),
    Reply(204, b"", {"x-openstack-request-id": REQUEST_ID}),
    # A value that is not UTF-8 (kept byte for byte through surrogateescape), and a non-ASCII one.
    Reply(404, "n\u00e9e".encode(), {"location": "/x/\udcff\udcfe", "x-name": "caf\u00e9"}),
    Reply(500, b"{}", {"a": "", "b": "1"}),
]


@pytest.mark.parametrize("reply", REPLIES)
@pytest.mark.parametrize("details", ["openstack_gateway", "other"])
def test_immediate_is_the_constructed_message(reply: Reply, details: str) -> None:
    built = immediate(reply, details)
    assert built == constructed(reply, details)
    assert built.SerializeToString(deterministic=True) == constructed(reply, details).SerializeToString(
        deterministic=True
    )
    assert built.WhichOneof("response") == "immediate_response"
    assert [(h.header.key, h.header.raw_value) for h in built.immediate_response.headers.set_headers] == [
        (k, v.encode("utf-8", "surrogateescape")) for k, v in reply.headers.items()
    ]
