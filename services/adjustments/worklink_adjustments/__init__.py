"""WorkLink Adjustments: reasonable-adjustment guidance for clinicians and their fit-note-shaped adjustment suggestions."""

from worklink.service import ServiceSpec

SERVICE = ServiceSpec(name="adjustments", package=__name__, default_port=8082, title="WorkLink Adjustments")
