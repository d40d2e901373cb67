"""The clouds.yaml `make run` writes for the openstack CLI and SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def clouds(
    public_url: str, demo_token: str = "demo-token", admin_token: str = "admin-token"
) -> dict[str, Any]:
    def cloud(username: str, password: str, project: str) -> dict[str, Any]:
        return {
            "auth": {
                "auth_url": f"{public_url}/identity/v3",
                "username": username,
                # The password is the Arktos bearer token of that user.
                "password": password,
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": "RegionOne",
            "identity_api_version": 3,
            "interface": "public",
        }

    return {
        "clouds": {
            "arktos": cloud("demo", demo_token, "demo"),
            "arktos-admin": cloud("admin", admin_token, "system"),
        }
    }


def write_clouds_yaml(
    path: Path, public_url: str, demo_token: str = "demo-token", admin_token: str = "admin-token"
) -> Path:
    """Cloud ``arktos`` is user demo of tenant demo, ``arktos-admin`` a system-tenant administrator."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(clouds(public_url, demo_token, admin_token), sort_keys=False))
    return path.resolve()
