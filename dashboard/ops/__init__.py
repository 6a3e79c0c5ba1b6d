"""Endpoints for the people who run Tollgate: /healthz, /readyz and /metrics.

They are answered by ``OpsMiddleware`` before sessions, CSRF, authentication and the host
check, so a load balancer or Prometheus can reach them by IP address, and they never
touch a session, a template or the usage log.
"""
