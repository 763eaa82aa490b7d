"""Engines run a compiled invoice run's SQL over the lake and return priced rows."""
