"""For the lab's maintainers, not its readers: how stored notebooks are stamped and compared.

Nothing here is imported by the notebooks or the CLI. `stamp` records, in each stored
notebook, the code it was run against and the kinds that ran; `nbval_compare` is the pytest
plugin that compares a notebook's cells only where this machine took the same path.
"""
