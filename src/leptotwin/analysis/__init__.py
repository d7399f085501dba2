"""analysis layer of leptotwin."""
