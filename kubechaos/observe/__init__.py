"""Observers of a running cluster: they know the cluster; the cluster does not know them."""
