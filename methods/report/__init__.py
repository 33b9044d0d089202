"""Tables, figures, Table 1 and the comparison with the paper, from run records and the paper's numbers only (torch-free)."""
