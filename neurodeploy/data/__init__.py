"""Small data sets built from data that ships with a package (no download): event streams for tests,
examples and `neurodeploy validate`."""
