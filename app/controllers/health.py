"""/health (liveness) and /ready (readiness), for load balancers and orchestrators."""
from flask_apispec import doc
from injector import inject

from app.controllers.docs import problems
from app.controllers.resource import ApiResource
from app.problems import problem_response
from app.services.health import HealthService


class HealthResource(ApiResource):
    """Liveness: the process answers. Never touches the database."""

    @doc(tags=["operations"], operationId="health", summary="Liveness probe",
         description="Answers while the process serves requests; never touches the database, so a database outage "
                     "does not get healthy instances restarted.",
         responses={200: {"description": '`{"status": "ok"}`'}})
    def get(self):
        return {"status": "ok"}


class ReadyResource(ApiResource):
    """Readiness: the database answers."""

    @inject
    def __init__(self, health: HealthService):
        self.health = health

    @doc(tags=["operations"], operationId="ready", summary="Readiness probe",
         description="Answers 200 when the database answers a trivial query within DATABASE_CONNECT_TIMEOUT, "
                     "503 otherwise: take the instance out of the load balancer until it recovers.",
         responses={200: {"description": '`{"status": "ok"}` when the database answers'}})
    @problems(503)
    def get(self):
        if self.health.database_ready():
            return {"status": "ok"}
        return problem_response(503, "Service Unavailable", "The database is not answering.",
                                headers={"Retry-After": "5"})


RESOURCES = [
    ("/health", HealthResource, "health"),
    ("/ready", ReadyResource, "ready"),
]
