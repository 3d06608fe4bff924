"""Settings of the invoicing service, read from the environment.

The variables every service shares (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, PORT, HOST,
LOG_LEVEL, DB_SCHEMA, ENV, ...) are described in servicekit.settings; only defaults differ.
"""

from pydantic import SecretStr

from payments import DEV_SIMULATOR_SECRET
from servicekit.settings import Port, ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "invoicing"
    db_schema: str = "invoicing"
    port: Port = 8102

    # --- invoicing's own ---------------------------------------------------------------
    # PROCESSOR_SIM_SECRET: the simulated payment processor's account key, the same as the
    # gateway's (it tokenizes, we charge). Checked when the processor is built: the public
    # development default is refused with ENV=prod, and it must be at least 16 bytes.
    processor_sim_secret: SecretStr = SecretStr(DEV_SIMULATOR_SECRET)
