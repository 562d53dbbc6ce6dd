"""WorkLink Directory: the support directory residents browse and partner organisations maintain (Open Referral UK 3.0)."""

from worklink.service import ServiceSpec

SERVICE = ServiceSpec(name="directory", package=__name__, default_port=8081, title="WorkLink Directory")
