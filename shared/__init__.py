"""The common library of docmesh: what every service imports.

Events, settings, logging, the stream consumer runner, database access and
object storage live here once, so that each service is only its handler.
"""
