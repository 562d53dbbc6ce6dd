"""The directory service's database: Open Referral UK 3.0 entities plus the platform tables.

Tables follow the HSDS/ORUK objects one-to-one (organization, service, location,
service_at_location, taxonomy, taxonomy_term, attribute (service <-> term), schedule,
contact, phone, metadata). A postal address lives on its location (ORUK allows one
physical address per location in practice; the API still nests it as `addresses[]`).
`search_document` keys the database's own full-text index and `service_capacity` is the read model
built from the referrals service's capacity events.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from worklink.db import NAMING_CONVENTION, platform_tables, utcnow

STATUSES = ("active", "inactive", "defunct", "temporarily closed")
LISTED = ("active", "temporarily closed")  # withdrawn (defunct) and inactive listings are not offered
LOCATION_TYPES = ("physical", "postal", "virtual")
DELIVERY_MODES = ("in_person", "online", "telephone")
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

UtcDateTime = sa.DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text)
    email: Mapped[str | None] = mapped_column(sa.String(255))
    website: Mapped[str | None] = mapped_column(sa.String(500))
    is_demo: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class Service(Base):
    __tablename__ = "service"
    __table_args__ = (sa.Index("ix_service_listed", "status", "organization_id"),
                      # covering: filters that join to a service read its status (and the postcode coverage
                      # check its districts) without its row
                      sa.Index("ix_service_id_status", "id", "status", "covered_districts"))

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organization.id"))
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text)
    url: Mapped[str | None] = mapped_column(sa.String(500))
    email: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(32), default="active")
    fees: Mapped[str | None] = mapped_column(sa.Text)
    is_free: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    delivery_modes: Mapped[str] = mapped_column(sa.String(64), default="in_person")  # comma-separated codes
    application_process: Mapped[str | None] = mapped_column(sa.Text)  # "how to get help"
    minimum_age: Mapped[int | None] = mapped_column(sa.Integer)
    maximum_age: Mapped[int | None] = mapped_column(sa.Integer)
    assured_date: Mapped[date | None] = mapped_column(sa.Date)
    assurer_email: Mapped[str | None] = mapped_column(sa.String(255))
    alert: Mapped[str | None] = mapped_column(sa.Text)
    last_modified: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    review_due_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When it was first listed here (created or imported): an unassured listing's review period runs from it
    listed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utcnow)
    # Its areas' postcode districts as " TA1 TA2 " ("" when no area lists any: anyone), kept with the
    # areas so the postcode coverage filter reads the row it already has (see queries._covers)
    covered_districts: Mapped[str] = mapped_column(sa.String(2000), default="", server_default="")
    is_demo: Mapped[bool] = mapped_column(sa.Boolean, default=False)

    organization: Mapped[Organization] = relationship(lazy="joined")
    locations: Mapped[list["ServiceAtLocation"]] = relationship(
        back_populates="service", cascade="all, delete-orphan", order_by="ServiceAtLocation.id")
    schedules: Mapped[list["Schedule"]] = relationship(cascade="all, delete-orphan", order_by="Schedule.byday")
    contacts: Mapped[list["Contact"]] = relationship(cascade="all, delete-orphan", order_by="Contact.name")
    attributes: Mapped[list["ServiceTerm"]] = relationship(cascade="all, delete-orphan")
    service_areas: Mapped[list["ServiceArea"]] = relationship(cascade="all, delete-orphan", order_by="ServiceArea.name")

    @property
    def area_codes(self) -> list[str] | None:
        """Postcode districts served, or None when the listing states no area (anyone)."""
        codes = sorted({d for area in self.service_areas for d in area.districts})
        return codes or None

    def cover_districts(self) -> None:
        """Refresh covered_districts from the service areas (call after changing them)."""
        codes = self.area_codes
        self.covered_districts = f" {' '.join(codes)} " if codes else ""

    @property
    def delivery(self) -> list[str]:
        return [m for m in (self.delivery_modes or "").split(",") if m]


class Location(Base):
    __tablename__ = "location"
    # covering: a proximity search reads only this index to find candidates near a point
    __table_args__ = (sa.Index("ix_location_nearby", "latitude", "longitude", "confidential", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organization.id"))
    location_type: Mapped[str] = mapped_column(sa.String(16), default="physical")
    name: Mapped[str | None] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text)
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    address_1: Mapped[str | None] = mapped_column(sa.String(255))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    state_province: Mapped[str | None] = mapped_column(sa.String(100))
    postal_code: Mapped[str | None] = mapped_column(sa.String(10))
    country: Mapped[str] = mapped_column(sa.String(2), default="GB")
    accessibility: Mapped[str | None] = mapped_column(sa.Text)
    # A refuge or similar: its address and coordinates are never published.
    confidential: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class ServiceAtLocation(Base):
    __tablename__ = "service_at_location"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    service_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("location.id"))

    __table_args__ = (sa.Index("ix_service_at_location_located", "location_id", "service_id", "id"),)  # covering

    service: Mapped[Service] = relationship(back_populates="locations")
    location: Mapped[Location] = relationship(lazy="joined")


class Taxonomy(Base):
    __tablename__ = "taxonomy"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text)
    uri: Mapped[str | None] = mapped_column(sa.String(500))
    version: Mapped[str | None] = mapped_column(sa.String(50))


class TaxonomyTerm(Base):
    __tablename__ = "taxonomy_term"
    __table_args__ = (sa.UniqueConstraint("taxonomy_id", "code"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    taxonomy_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("taxonomy.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("taxonomy_term.id"))
    term_uri: Mapped[str | None] = mapped_column(sa.String(500))

    taxonomy: Mapped[Taxonomy] = relationship(lazy="joined")


class ServiceTerm(Base):
    """An HSDS `attribute` linking a service to a taxonomy term."""

    __tablename__ = "service_term"
    __table_args__ = (sa.UniqueConstraint("service_id", "taxonomy_term_id"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    service_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"))
    taxonomy_term_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("taxonomy_term.id"), index=True)

    term: Mapped[TaxonomyTerm] = relationship(lazy="joined")


class Schedule(Base):
    """Weekly opening hours: one row per day and session (ORUK's iCal subset)."""

    __tablename__ = "schedule"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    service_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    freq: Mapped[str] = mapped_column(sa.String(16), default="WEEKLY")
    byday: Mapped[str] = mapped_column(sa.String(2))
    opens_at: Mapped[str] = mapped_column(sa.String(5))  # HH:MM, compares as text
    closes_at: Mapped[str] = mapped_column(sa.String(5))
    description: Mapped[str | None] = mapped_column(sa.Text)
    attending_type: Mapped[str | None] = mapped_column(sa.String(32))

    @property
    def day_index(self) -> int:
        return DAYS.index(self.byday)


class Contact(Base):
    __tablename__ = "contact"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    service_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(sa.String(255))
    title: Mapped[str | None] = mapped_column(sa.String(255))
    email: Mapped[str | None] = mapped_column(sa.String(255))

    phones: Mapped[list["Phone"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class Phone(Base):
    __tablename__ = "phone"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str | None] = mapped_column(sa.String(255))


class Metadata(Base):
    """HSDS `metadata`: the change log of a listing, one row per changed field."""

    __tablename__ = "metadata"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    resource_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    resource_type: Mapped[str] = mapped_column(sa.String(32))
    last_action_date: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_action_type: Mapped[str] = mapped_column(sa.String(16))  # create | update | delete | withdraw | assure
    field_name: Mapped[str] = mapped_column(sa.String(255))  # a path into the listing: contacts/<id>/email
    previous_value: Mapped[str] = mapped_column(sa.Text, default="")
    replacement_value: Mapped[str] = mapped_column(sa.Text, default="")
    updated_by: Mapped[str] = mapped_column(sa.String(255))


class SearchDocument(Base):
    """A service's entry in the full-text index, under an integer key.

    The index itself (`service_search`) is the database's own full-text engine: an
    SQLite FTS5 table whose rowid is this key, or a PostgreSQL tsvector table with a GIN
    index. It is created by a migration per dialect and kept out of this metadata
    (see UNMANAGED_TABLES); search.py maintains and queries it.
    """

    __tablename__ = "search_document"

    key: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), unique=True)


class ServiceArea(Base):
    """ORUK `service_area`: where a service takes people from.

    `postcode_districts` (an extension, space-separated outward codes such as "TA1 TA2")
    is what routing matches a person's postcode against; the ORUK fields describe the
    area to people.
    """

    __tablename__ = "service_area"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    service_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    extent: Mapped[str | None] = mapped_column(sa.Text)
    extent_type: Mapped[str | None] = mapped_column(sa.String(16))
    uri: Mapped[str | None] = mapped_column(sa.String(500))
    postcode_districts: Mapped[str] = mapped_column(sa.String(1000), default="")

    @property
    def districts(self) -> list[str]:
        return self.postcode_districts.split()


class ServiceCapacity(Base):
    """HSDS 3.1 `service_capacity`, from `referrals.capacity.changed` (latest event wins)."""

    __tablename__ = "service_capacity"

    service_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    accepting_referrals: Mapped[bool] = mapped_column(sa.Boolean)
    open_referrals: Mapped[int] = mapped_column(sa.Integer)
    available_places: Mapped[int | None] = mapped_column(sa.Integer)
    typical_wait_days: Mapped[int | None] = mapped_column(sa.Integer)
    updated: Mapped[datetime] = mapped_column(UtcDateTime)


class FeedVersion(Base):
    """One row: how many times what the open feed shows has changed. Moved by database triggers on every feed table
    (migration 0018), never by the application; read by feed_cache to know when its answers went stale."""

    __tablename__ = "feed_version"
    __table_args__ = (sa.CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(sa.BigInteger)


# Tables the migrations create per dialect that SQLAlchemy cannot describe: the full-text
# index (FTS5 makes shadow tables named after it). Schema comparison skips them.
UNMANAGED_TABLES = ("service_search",)
Base.metadata.info["unmanaged_tables"] = UNMANAGED_TABLES

# outbox, processed_events and audit_log live in this service's own database.
PLATFORM = platform_tables(Base.metadata)
