"""What a run directory holds and whether it is current: its record, its sealed copy, restore and set-aside (torch-free)."""
