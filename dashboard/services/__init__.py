"""Every state-changing action of the product, each with its role check and its audit entry."""
