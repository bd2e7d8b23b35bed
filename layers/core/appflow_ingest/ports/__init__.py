"""The ports: every protocol the services talk through, declared once, with the values and errors that cross it."""
