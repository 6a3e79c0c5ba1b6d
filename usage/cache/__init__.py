"""The credit saver: a response cache shared by the whole team, in front of the upstream.

- ``policy``: what may be cached, for how long, and under which key.
- ``entry``: a stored answer and its bytes.
- ``stores``: where entries live (Redis, or an SQLite file every worker shares), and the
  leader's lock and published result that coalesce identical misses.
- ``serve``: the proxy's path through all of it.
"""
