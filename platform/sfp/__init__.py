"""The shared layer of the SlowFast platform: configuration, storage URIs, the frame-store contract,
MLflow tracking, Ray start-up, console output, credentials and errors. Both pipelines import it; it imports neither
(the `sfp` command line is the application package, `sfp_app`).

Importing this package does nothing beyond defining names: no folders, no tracking URI, no Ray.
"""

__version__ = "0.1.0"
