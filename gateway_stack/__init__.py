"""The whole gateway on one machine: Arktos (simulator or real), the processor and Envoy.

``python -m gateway_stack`` is what ``make run`` starts; ``Stack`` is the same thing for tests::

    with Stack(workdir=tmp_path, vm_boot_seconds=0.5) as stack:
        requests.get(stack.public_url + "/compute/v2.1/", ...)
        stack.stop_processor(); ...; stack.start_processor()
"""

from gateway_stack.stack import Stack, StackError

__all__ = ["Stack", "StackError"]
