"""Banks of mutants and correct alternatives, one module per assignment."""
