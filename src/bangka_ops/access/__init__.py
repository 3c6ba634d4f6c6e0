"""Access control: the roles model of the inventory (people, roles, keys), admin TOTP."""
