"""bangka-ops: SI CEKAT (server backups) and PROTOCLOUD (leaders' agenda) for Kabupaten Bangka."""

__version__ = "0.1.0"
