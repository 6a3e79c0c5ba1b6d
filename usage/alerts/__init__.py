"""Call consumption alerts: ``detection`` finds crossed thresholds, ``delivery`` sends them;
``expiry`` emails a key's owner a week before the key expires.

Exactly once across processes, restarts and racing senders; see each module.
"""
