"""study layer of leptotwin."""
