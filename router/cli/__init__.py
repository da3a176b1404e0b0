"""The `banditroute` command line."""
