"""Neutron v2.0 facade over Arktos's Network custom resource (``networks.arktos.futurewei.com/v1``).

``objects`` reads and writes Network objects, ``store`` is the watch-fed uid -> network index, ``views``
renders Neutron's networks, subnets, ports and security groups, ``filters`` applies Neutron's list query,
``handlers`` are the routes' handlers and ``server_nics`` turns a server create's ``networks`` into the
pod's network label and ``spec.nics``.
"""
