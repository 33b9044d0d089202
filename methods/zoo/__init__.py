"""One module per method; each registers its class with methods.registry.register."""
