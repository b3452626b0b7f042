"""Group billing: a table's bill, split between the people at it."""
