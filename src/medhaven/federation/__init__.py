"""Federation: signed job specs, the node's policy and trust boundary, combining results.

* :mod:`.jobs`: :class:`JobSpec`, canonical JSON, Ed25519 signing, hub keys;
* :mod:`.node`: :class:`NodeConfig` (``node.toml``) and :func:`handle_job`,
  which verifies a signed job, runs it under the node's disclosure control
  and audits it;
* :mod:`.kinds`: the job kinds (``cohort_count``, ``characterize``, ``incidence``);
* :mod:`.audit`: the node's hash-chained JSON-lines audit log;
* :mod:`.combine`: :func:`combine_counts`, :func:`combine_characterize`,
  :func:`combine_incidence`: combinations that never un-suppress a cell;
* :mod:`.tls`: the federation CA, the SuperLink certificate, node keys.

The Flower transport (ServerApp / ClientApp) builds on these.
"""

from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.combine import (
    combine,
    combine_characterize,
    combine_counts,
    combine_incidence,
)
from medhaven.federation.jobs import (
    JobSpec,
    SignedJob,
    canonical_json,
    generate_hub_keypair,
    load_private_key,
    load_public_key,
    sign_job,
)
from medhaven.federation.node import NodeConfig, handle_job, held_jobs, release_held

__all__ = [
    "JobSpec",
    "NodeAuditLog",
    "NodeConfig",
    "SignedJob",
    "canonical_json",
    "combine",
    "combine_characterize",
    "combine_counts",
    "combine_incidence",
    "generate_hub_keypair",
    "handle_job",
    "held_jobs",
    "load_private_key",
    "load_public_key",
    "release_held",
    "sign_job",
]
