"""Recording upstream exchanges as vcrpy cassettes, scrubbing their secrets, replaying them."""

from __future__ import annotations

from chatmock_lab.cassettes.format import (
    CASSETTE_VERSION,
    METADATA_KEY,
    Cassette,
    CassetteError,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    dumps_cassette,
    from_vcr_dict,
    load_cassette,
    loads_cassette,
    save_cassette,
    to_vcr_dict,
    validate_cassette,
)
from chatmock_lab.cassettes.matching import (
    DEFAULT_IGNORED,
    DEFAULT_IGNORED_QUERY,
    Matcher,
    MatchOptions,
    canonical_request,
)
from chatmock_lab.cassettes.scrub import (
    DEFAULT_MARKER,
    SECRET_FIELDS,
    SECRET_QUERY_PARAMS,
    Finding,
    find_secrets,
    scrub_cassette,
    scrub_interaction,
)

__all__ = [
    "CASSETTE_VERSION",
    "DEFAULT_IGNORED",
    "DEFAULT_IGNORED_QUERY",
    "DEFAULT_MARKER",
    "METADATA_KEY",
    "SECRET_FIELDS",
    "SECRET_QUERY_PARAMS",
    "Cassette",
    "CassetteError",
    "Finding",
    "Interaction",
    "MatchOptions",
    "Matcher",
    "RecordedRequest",
    "RecordedResponse",
    "canonical_request",
    "dumps_cassette",
    "find_secrets",
    "from_vcr_dict",
    "load_cassette",
    "loads_cassette",
    "save_cassette",
    "scrub_cassette",
    "scrub_interaction",
    "to_vcr_dict",
    "validate_cassette",
]
