"""The foundation tests use the root fixtures ``make_lib`` and ``issue`` as they are."""
