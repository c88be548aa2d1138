"""cleanloop: observability-driven feedback-loop runner (boot, reproduce, verify, loop until clean).

The one top-level import name. Its sub-packages are the repository's top-level folders:
`cleanloop.loop` (loop/), `cleanloop.probes` (probes/), `cleanloop.collectors` (collectors/) and
the bundled examples as package data, `cleanloop.scenarios` (scenarios/). In the repository they
are symbolic links to those folders; a built wheel holds real copies.
"""

__version__ = "0.1.0"
