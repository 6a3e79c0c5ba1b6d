"""Set the team's plan from a script: name, credits, rate limit, overage, alerts, cache."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from usage.cache.policy import ttl_table
from usage.plan.services import plan_update


def _on_off(value: str) -> bool:
    word = value.strip().lower()
    if word in ("on", "true", "1", "yes"):
        return True
    if word in ("off", "false", "0", "no"):
        return False
    raise ValueError(value)


_on_off.__name__ = "on|off"


class Command(BaseCommand):
    help = "Change the plan's name, monthly call credits, requests per minute or overage."

    def add_arguments(self, parser):
        parser.add_argument("--name")
        parser.add_argument("--monthly-credits", type=int)
        parser.add_argument("--rate-limit", type=int, help="requests per minute")
        parser.add_argument("--overage", type=_on_off, help="on or off")
        parser.add_argument("--alerts", type=_on_off, help="call consumption alerts: on or off")
        parser.add_argument(
            "--thresholds", help="percent of the monthly credits, e.g. 50,75,90,100"
        )
        parser.add_argument(
            "--recipients",
            help="extra alert addresses besides the staff, e.g. a@example.com,b@example.com "
            "(an empty string removes them all)",
        )
        parser.add_argument("--webhook", help="webhook URL for alerts (an empty string removes it)")
        parser.add_argument("--cache", type=_on_off, help="the response cache: on or off")
        parser.add_argument(
            "--cache-ttl",
            help="cache times-to-live, ENDPOINT=SECONDS[,...], e.g. /simple/price=20,/global=0 "
            "(0: not cached; the default's value: back to the default)",
        )

    def handle(
        self,
        *args,
        name,
        monthly_credits,
        rate_limit,
        overage,
        alerts,
        thresholds,
        recipients,
        webhook,
        cache,
        cache_ttl,
        **options,
    ):
        try:
            plan = plan_update(
                source="setplan",
                name=name,
                monthly_credits=monthly_credits,
                rate_limit=rate_limit,
                overage=overage,
                alerts_enabled=alerts,
                thresholds=thresholds,
                recipients=recipients,
                webhook_url=webhook,
                cache_enabled=cache,
                cache_ttls=cache_ttl,
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(
            f"plan {plan.name!r}: {plan.monthly_credits} monthly call credits, "
            f"{plan.rate_limit} requests per minute, overage {'on' if plan.overage else 'off'}"
        )
        self.stdout.write(
            f"alerts {'on' if plan.alerts_enabled else 'off'} at {plan.thresholds} %, "
            f"to the staff{''.join(', ' + r for r in plan.recipient_list)}, "
            f"webhook {plan.webhook_url or 'none'}"
        )
        ttls = ", ".join(f"{e} {s} s" for e, s, _ in ttl_table(plan.cache_ttls))
        self.stdout.write(f"response cache {'on' if plan.cache_enabled else 'off'}: {ttls}")
