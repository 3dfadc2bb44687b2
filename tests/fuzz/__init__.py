"""Property-based fuzzing of every inbound route of every dialect (issue 15)."""
