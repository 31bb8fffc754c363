"""The service layer: each thing a client, an operator or a worker asks of a document
is one function of (unit of work, command), called alike by the gateway's routes,
the workers and the command line (``presign``: a new document's upload, or a
replacement's; ``uploads``: processing an upload; ``documents``: cancel, retry,
delete; ``finishing``: a job's end, a document's end and its webhooks; ``builds``:
starting an index version's build, rolling back to a kept one).

A use case checks what the document's state allows (``shared.errors.Refused`` and
its kinds when it does not), writes through the unit of work, and hands it the events its change
causes; the unit of work commits, then publishes them, or gives them to a worker's
runner to publish with its ack (``unit_of_work``)."""
