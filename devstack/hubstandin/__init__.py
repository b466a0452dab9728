"""A local stand-in for the Azure Notification Hubs data plane (never deployed).

It serves installations, sends and scheduled sends on 127.0.0.1, checks SAS
tokens, evaluates tag expressions and templates, and records what each
installation would have received.
"""

from devstack.hubstandin.standin import FULL_RULE, LISTEN_RULE, HubStandIn
from devstack.hubstandin.state import Delivery

__all__ = ["FULL_RULE", "LISTEN_RULE", "Delivery", "HubStandIn"]
