"""The cost advisor: what a tenant's own ledger and feedback say about where its money goes — a spend
forecast, the waste in it (retry storms, timeouts, abandoned requests), and recommendations to change
routing, each with its evidence, checked afterwards against what it actually saved."""
