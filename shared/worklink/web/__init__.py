"""Web conventions shared by every service's Flask app."""

from worklink.web.app import ServiceContext, accepts_form, create_service_app, service_context
from worklink.problems import Problem

__all__ = ["Problem", "ServiceContext", "accepts_form", "create_service_app", "service_context"]
