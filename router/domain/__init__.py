"""What the service speaks about, with no I/O: request and decision types, errors, categories, the model
registry, token estimates and the rule language. Depends on nothing else in the project."""
