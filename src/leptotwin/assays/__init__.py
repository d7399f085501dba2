"""assays layer of leptotwin."""
