"""partnermatch service: settings, store, snapshots, CLI, HTTP API and web pages."""
