"""The compatibility report (issue 14): where the primary's (Nova's) answers and the gateway's differ.

``capture`` reads and pairs a capture, ``compare`` compares one exchange, ``rules`` says what must differ,
``summary`` sums up per endpoint (``report.json``), ``render`` makes the table and the HTML page, ``replay``
turns a recorded session into a capture by replaying it against the gateway, ``cli`` is the command.
"""
