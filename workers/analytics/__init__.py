"""Analytics: the report (KPIs, HTML page) and the forecast's glue to the store."""
