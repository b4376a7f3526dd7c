"""Business rules, free of request objects: library, covers, materials."""
