"""Envoy external processor that turns OpenStack (Nova, Glance, Keystone) requests into Arktos REST calls."""
