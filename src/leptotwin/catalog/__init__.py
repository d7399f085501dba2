"""catalog layer of leptotwin."""
