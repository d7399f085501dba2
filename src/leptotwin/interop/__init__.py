"""interop layer of leptotwin."""
