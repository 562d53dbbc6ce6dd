"""WorkLink Notifications: tells the right people what happened: in-app inbox, email and signed webhooks."""

from worklink.service import ServiceSpec

SERVICE = ServiceSpec(name="notifications", package=__name__, default_port=8084, title="WorkLink Notifications")
