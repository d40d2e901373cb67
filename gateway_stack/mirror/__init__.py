"""Traffic mirroring (issue 14): a user's own Nova traffic also sent to the gateway, and compared.

``exchange`` is the capture format both sides of an exchange are written in, ``idmap`` what the shadow
calls the primary's things (learned from paired replies) and the rewriting of a request for the shadow.
"""
