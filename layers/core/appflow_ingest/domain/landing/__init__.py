"""Landed files: their keys, and the chunks a file is cut into."""
