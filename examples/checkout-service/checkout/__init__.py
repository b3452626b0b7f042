"""A tiny checkout service: carts become orders, stored through a pooled database connection."""
