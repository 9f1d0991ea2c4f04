"""/health (liveness) and /ready (readiness), for load balancers and orchestrators."""
from flask_apispec import doc, marshal_with
from injector import inject

from app.controllers.docs import PUBLIC, problems
from app.controllers.resource import ApiResource
from app.dto.health import health_status
from app.problems import problem_response
from app.services.health import HealthService

# Seconds a client or probe should wait before asking /ready again after a 503 (RFC 9110 Retry-After).
RETRY_AFTER_SECONDS = "5"


class HealthResource(ApiResource):
    """Liveness: the process answers. Never touches the database."""

    @doc(tags=["operations"], operationId="health", summary="Liveness probe", security=PUBLIC,
         description="Answers while the process serves requests; never touches the database, so a database outage "
                     "does not get healthy instances restarted.",
         responses={200: {"description": '`{"status": "ok"}`'}})
    @marshal_with(health_status, code=200)
    def get(self):
        return {"status": "ok"}


class ReadyResource(ApiResource):
    """Readiness: the database answers and the process is not draining before a graceful shutdown."""

    @inject
    def __init__(self, health: HealthService):
        self.health = health

    @doc(tags=["operations"], operationId="ready", summary="Readiness probe", security=PUBLIC,
         description="Answers 200 when the database answers a trivial query (bounded by DATABASE_CONNECT_TIMEOUT "
                     "and DATABASE_STATEMENT_TIMEOUT), "
                     "503 otherwise: take the instance out of the load balancer until it recovers. Also 503 "
                     '(detail "draining") for the DRAIN_SECONDS after the server was told to stop (SIGTERM): '
                     "requests are still served meanwhile, then the instance stops accepting connections.",
         responses={200: {"description": '`{"status": "ok"}` when the database answers'}})
    @marshal_with(health_status, code=200)
    @problems(503)
    def get(self):
        if self.health.draining():  # checked first: a stopping instance leaves rotation whatever the database says
            return problem_response(503, "Service Unavailable", "draining",
                                    headers={"Retry-After": RETRY_AFTER_SECONDS})
        if self.health.database_ready():
            return {"status": "ok"}
        return problem_response(503, "Service Unavailable", "The database is not answering.",
                                headers={"Retry-After": RETRY_AFTER_SECONDS})


UNVERSIONED_RESOURCES = [
    ("/health", HealthResource, "health"),
    ("/ready", ReadyResource, "ready"),
]
