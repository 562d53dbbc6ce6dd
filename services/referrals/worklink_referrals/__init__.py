"""WorkLink Referrals: referrals to specialist employment advisers: lifecycle, clocks and outcomes."""

from worklink.service import ServiceSpec

SERVICE = ServiceSpec(name="referrals", package=__name__, default_port=8083, title="WorkLink Referrals")
