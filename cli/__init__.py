"""hwplan command line."""
