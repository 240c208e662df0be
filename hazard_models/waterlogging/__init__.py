"""Urban waterlogging: rainfall beyond what the drainage system carries, per community."""
