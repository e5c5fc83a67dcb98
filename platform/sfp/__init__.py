"""The platform layer of the SlowFast platform: configuration, storage URIs, the frame-store contract,
MLflow tracking and the `sfp` command line.

Importing this package does nothing beyond defining names: no folders, no tracking URI, no Ray.
"""

__version__ = "0.1.0"
