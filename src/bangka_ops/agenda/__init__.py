"""PROTOCLOUD: the leaders agenda as YAML files in a git repository."""
