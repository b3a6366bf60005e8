"""geo311: an open geospatial 311 service on PostGIS."""

__version__ = "0.1.0"
