"""Create one API key per role for the demo data and print how to use them (run by `make demo`)."""
from __future__ import annotations

import sys

from service.keys import create_key
from service.settings import Settings
from service.store import Store

DEMO_KEYS = (
    ("submitter", "Volta East Regional Hospital", None, "an LMIC institution (owns need-001)"),
    ("partner", None, "uk-001", "a UK institution (profile uk-001)"),
    ("staff", None, None, "programme staff"),
    ("admin", None, None, "operator"),
)


def main(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Create the demo keys and print the banner."""
    settings = Settings()
    store = Store(settings.db_url).migrate()
    print(f"\npartnermatch is starting on http://{host}:{port}  (web pages at /, API docs at /docs)")
    print("Demo API keys (new ones each run; shown once, only their hashes are stored):")
    for role, institution, profile, who in DEMO_KEYS:
        secret, _row = create_key(store, role, institution, profile)
        print(f"  {role:<10} {secret}   {who}")
    print(f"Try: curl -H 'Authorization: Bearer <staff key>' http://{host}:{port}/api/v1/needs/need-001/matches?top=3\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
