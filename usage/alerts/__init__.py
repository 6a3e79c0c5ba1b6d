"""Call consumption alerts: ``detection`` finds crossed thresholds, ``delivery`` sends them.

Exactly once across processes, restarts and racing senders; see each module.
"""
