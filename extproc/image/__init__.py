"""Glance v2 facade: version document, image list/show and JSON schemas, from the catalog ConfigMaps."""
