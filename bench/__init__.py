"""``make bench``: the gateway's cost measured side by side with its limits (Arktos direct, Envoy alone).

``python -m bench`` starts the stack on loopback (``gateway_stack.Stack``) plus an Envoy that passes Arktos
requests through without the processor, drives every scenario with ``wrk`` (or a Python load generator in a
separate process when ``wrk`` is missing), reads CPU and memory of each process from ``/proc``, and writes a
table, ``bench/results/bench-<time>.json`` and a PNG chart. See bench/README.md for how to read it.
"""
