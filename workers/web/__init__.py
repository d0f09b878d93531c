"""The web endpoint: answer links, unsubscribe, webhooks, the report page."""
