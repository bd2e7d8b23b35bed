"""appflow_ingest: the Lambda-side code of the AppFlow ingestion backend.

Layers: ``domain`` (pure logic, no AWS), ``adapters`` (AWS access behind small interfaces),
``services`` (one use case per function, wiring domain and adapters). Handlers in
``functions/`` only parse the trigger and call a service.
"""
