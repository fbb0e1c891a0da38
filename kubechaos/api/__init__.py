"""API types: objects, quantities, selectors, validation and errors. Imports nothing above it."""
