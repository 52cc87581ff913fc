"""Writes MaxMind-format test databases (an ASN one and a country one), as GeoLite2 lays them
out, with PyPI's mmdb-writer: `python3 mmdb.py SPEC`, SPEC a JSON object
{"asn": PATH, "country": PATH, "built": EPOCH_SECONDS_OR_NULL,
 "networks": [[CIDR, ASN, ORGANISATION, COUNTRY], ...]}."""
import json
import sys
import time

from mmdb_writer import MMDBWriter
from netaddr import IPSet

spec = json.loads(sys.argv[1])
if spec.get("built"):
    # The writer stamps the database with the time it is written.
    time.time = lambda: spec["built"]


def writer(kind):
    return MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=kind,
                      description={"en": "trailwatch test " + kind}, int_type="u32")


asn, country = writer("GeoLite2-ASN"), writer("GeoLite2-Country")
for cidr, number, org, cc in spec["networks"]:
    asn.insert_network(IPSet([cidr]), {"autonomous_system_number": number,
                                       "autonomous_system_organization": org})
    country.insert_network(IPSet([cidr]), {"country": {"iso_code": cc}})
asn.to_db_file(spec["asn"])
country.to_db_file(spec["country"])
