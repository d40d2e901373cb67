"""Nova (compute API v2.1) translators."""
