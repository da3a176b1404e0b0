"""Which models may answer a request: the safety floor, the tenant's rules, its budgets; and the watch on
spending (anomalies)."""
