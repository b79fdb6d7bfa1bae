"""Destination plugins. Each is a package named for its vendor; none imports another."""
