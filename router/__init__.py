"""banditroute's decision service: route a prompt to a model, learn from feedback."""
