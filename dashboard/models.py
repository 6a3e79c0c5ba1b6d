"""The dashboard app's models live beside the feature that uses them."""

from dashboard.team.models import Invitation

__all__ = ["Invitation"]
