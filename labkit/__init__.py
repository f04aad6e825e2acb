"""labkit: the helper package of the agents lab (restaurant vs personal chef).

Importing labkit needs none of the sandbox runtimes: each kind of sandbox is loaded
only when asked for, and tells you what is missing and how to get it.
"""

__version__ = "0.1.0"
