"""The Tornado web layer: a route table and one thin handler per endpoint."""
