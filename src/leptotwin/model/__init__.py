"""model layer of leptotwin."""
