"""An Arktos-compatible Kubernetes-style API server simulator (test and demo backend)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
