"""Forms from a declarative definition: the same definition renders the page and validates the answers."""
