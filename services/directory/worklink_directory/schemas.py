"""Request schemas of the write API (the read API answers in ORUK 3.0 JSON, see oruk.py)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from worklink_directory.geocode import POSTCODE
from worklink_directory.models import DAYS, DELIVERY_MODES, LOCATION_TYPES

OUTWARD_CODE = r"^[A-Z]{1,2}[0-9][0-9A-Z]?$"
_HHMM = validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", error="Use a 24-hour time, HH:MM.")
WITHDRAW_REASONS = ("closed", "duplicate", "no_longer_funded", "moved", "other")


def _text(length: int = 255, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=length), **kwargs)


class _Named(fields.String):
    """Text a listing is known by: surrounding whitespace is dropped, so blank text ("  ") is refused by the
    minimum length like empty text, instead of giving residents a blank name or breaking ORUK's required
    organization name and description (oruk.compact omits empty strings)."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


def _named(minimum: int, length: int = 255, **kwargs) -> _Named:
    too_short = "Must not be blank." if minimum == 1 else f"Must be at least {minimum} characters (not counting spaces)."
    return _Named(validate=[validate.Length(min=minimum, error=too_short), validate.Length(max=length)], **kwargs)


def _kept_id(noun: str) -> fields.UUID:
    return fields.UUID(metadata={"description": f"The id of one of the listing's {noun}s updates it in place (its "
                                                f"id stays). Without one, an unchanged {noun} keeps its id and a "
                                                f"new one gets a new id."})


class PhoneIn(Schema):
    id = _kept_id("phone number")
    number = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9 +()-]{6,20}$", error="Not a phone number: 6 to 20 digits, spaces, +, ( ) or - (e.g. 01632 960 001)."))
    description = _text()


class ContactIn(Schema):
    id = _kept_id("contact")
    name = _text()
    title = _text()
    email = fields.Email()
    phones = fields.List(fields.Nested(PhoneIn), load_default=list)


class ScheduleIn(Schema):
    id = _kept_id("opening time")
    byday = fields.String(required=True, validate=validate.OneOf(DAYS))
    opens_at = fields.String(required=True, validate=_HHMM)
    closes_at = fields.String(required=True, validate=_HHMM)
    description = _text(1000)
    attending_type = fields.String(validate=validate.OneOf(("in_person", "online", "telephone")))

    @validates_schema
    def opens_before_closing(self, data, **_):
        if data.get("opens_at") and data.get("closes_at") and data["opens_at"] >= data["closes_at"]:
            raise ValidationError("Must be later than opens_at.", "closes_at")


class LocationIn(Schema):
    id = fields.UUID(metadata={"description": "An existing location's id updates it in place (its id stays); "
                                              "sent alone, the listing is offered at that place as it is; "
                                              "without one, a new location is made."})
    location_type = fields.String(load_default="physical", validate=validate.OneOf(LOCATION_TYPES))
    name = _text()
    description = _text(2000)
    address_1 = _text()
    city = _text(100)
    state_province = _text(100)
    postal_code = fields.String(validate=validate.Regexp(POSTCODE.pattern, error="Not a UK postcode (e.g. TA1 1AA)."))
    latitude = fields.Float(validate=validate.Range(-90, 90))
    longitude = fields.Float(validate=validate.Range(-180, 180))
    accessibility = _text(2000)
    confidential = fields.Boolean(metadata={
        "description": "A refuge or similar: the address is never published. Left out, an existing location "
                       "keeps its mark (a new one is not confidential); only `false` sent explicitly clears it, "
                       "with `publish_address: true`."})
    publish_address = fields.Boolean(metadata={
        "description": "The acknowledgement that this write publishes a confidential place's address (a "
                       "refuge's): required, `true`, with `confidential: false` on one of the organisation's "
                       "confidential places, or on a place sent new (or moved) to the postcode of one. Without "
                       "it such a write is refused (409) and nothing changes. Sent `true`, the PATCH must carry "
                       "the listing's ETag in If-Match (428 without, 412 if stale); a POST cannot (428). Not "
                       "stored."})


class ServiceAreaIn(Schema):
    """ORUK `service_area`, plus the postcode districts routing matches people against."""

    id = _kept_id("service area")
    name = _text(required=True)
    extent = _text(100_000, metadata={"description": "ORUK: the area's shape, in `extent_type` format"})
    extent_type = fields.String(validate=validate.OneOf(("geojson", "topojson", "kml", "text")))
    uri = fields.Url()
    postcode_districts = fields.List(
        fields.String(validate=validate.Regexp(OUTWARD_CODE, error="Not a postcode district (e.g. TA1).")),
        load_default=list, validate=validate.Length(max=200), metadata={
            "description": "Extension: outward codes served (e.g. TA1, BS16); none means the area is not "
                           "stated as districts"})


class ServiceIn(Schema):
    """A listing. On PATCH every field is optional; a list given replaces the old one."""

    organization_id = fields.UUID(required=True)
    name = _named(2, required=True)
    description = _text(5000)
    url = fields.Url()
    email = fields.Email()
    status = fields.String(load_default="active", validate=validate.OneOf(("active", "temporarily closed", "inactive")))
    fees = _text(1000)
    is_free = fields.Boolean(load_default=True)
    delivery_modes = fields.List(fields.String(validate=validate.OneOf(DELIVERY_MODES)), load_default=["in_person"])
    application_process = _text(5000, metadata={"description": "How to get help."})
    minimum_age = fields.Integer(validate=validate.Range(0, 130), allow_none=True)
    maximum_age = fields.Integer(validate=validate.Range(0, 130), allow_none=True)
    alert = _text(1000)
    taxonomy_term_ids = fields.List(fields.UUID(), load_default=list)
    locations = fields.List(fields.Nested(LocationIn), load_default=list)
    schedules = fields.List(fields.Nested(ScheduleIn), load_default=list)
    contacts = fields.List(fields.Nested(ContactIn), load_default=list)
    service_areas = fields.List(fields.Nested(ServiceAreaIn), load_default=list, metadata={
        "description": "Where the service takes people from; none means anyone, wherever they live"})
    remove_confidential_places = fields.Boolean(metadata={
        "description": "The acknowledgement that this write deletes a confidential place (a refuge's) that it leaves "
                       "out of `locations` and no other listing uses: its address is deleted, and nothing here then "
                       "knows it was confidential, so a place added there later is published unless sent with "
                       "`confidential: true`. Required, `true`, for such a write (else 409, nothing changes; not "
                       "needed when the same write keeps a confidential place at its postcode), with the "
                       "listing's ETag in If-Match (428 without, 412 if stale). Not stored."})

    @validates_schema
    def ages_in_order(self, data, **_):
        low, high = data.get("minimum_age"), data.get("maximum_age")
        if low is not None and high is not None and low > high:
            raise ValidationError("Must not be below minimum_age.", "maximum_age")


class ServicePatch(ServiceIn):
    """Documents PATCH; load it with partial=PATCH_PARTIAL (only the fields sent are applied)."""


# What PATCH may leave out: the listing's own fields, each item of a list sent stays whole. partial=True reaches
# into nested schemas as well, so an opening time without its hours or a phone without its number was taken
# (the database refused it: a 500).
PATCH_PARTIAL = tuple(ServicePatch().fields)


class AssureIn(Schema):
    assurer_email = fields.Email(validate=validate.Length(max=255), metadata={
        "description": "published in the open feed as the address to ask about this check (default: the "
                       "listing's email, else its organisation's; never the caller's login)"})


class WithdrawIn(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(WITHDRAW_REASONS))


class OrganizationIn(Schema):
    id = fields.UUID()
    name = _named(1, required=True)
    description = _named(1, 5000, required=True)
    email = fields.Email()
    website = fields.Url()
