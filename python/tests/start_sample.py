"""py-beach's start.py sample, then the rest of the client's API, against a running cluster.

Run by beach-node/tests/python_client.rs: ``python3 start_sample.py CLUSTER_YAML`` with
``BEACH_GATEWAY`` naming the nodes' gateways and Ping.py and Pong.py (py-beach's README actors)
in the cluster's code directory. Exits 0 when every check holds, printing what failed otherwise.
"""

import sys
import time

from beach.beach_api import Beach
from beach.utils import isMessageSuccess

beach = Beach(sys.argv[1], realm='global')

# py-beach's start.py, unchanged but for the file name.
a1 = beach.addActor('Ping', 'myactors/pingers', strategy='resource')
a2 = beach.addActor('Pong', 'myactors/pongers', strategy='affinity', strategy_hint='pingers')
assert isMessageSuccess(a1), a1
assert isMessageSuccess(a2), a2
assert a1['data']['uid'] and a2['data']['uid'], (a1, a2)
print("added", a1['data']['uid'], a2['data']['uid'])

# Then request ping, as the sample's users did.
h = beach.getActorHandle('myactors/pongers')
resp = h.request('ping', data={'time': time.time()}, timeout=10)
assert resp.isSuccess and 'time' in resp.data, str(resp)
assert 'isSuccess=True' in str(resp)
assert h.isAvailable() and h.getNumAvailable() == 1
# An actor in two sub-categories of the handle's category counts once.
assert isMessageSuccess(beach.addToCategory(a2['data']['uid'], 'myactors/pongers/extra'))
assert h.getNumAvailable() == 1, h.getNumAvailable()
assert isMessageSuccess(beach.removeFromCategory(a2['data']['uid'], 'myactors/pongers/extra'))
assert h.getPending() == {}

# Errors keep their strings; a timeout says so.
bad = h.request('nope', timeout=5)
assert not bad.isSuccess and bad.error == 'request type not supported by actor', str(bad)
none = beach.getActorHandle('myactors/nobody').request('ping', timeout=2)
assert not none.isSuccess and not none.isTimedOut and 'no actor' in none.error, str(none)
refused = beach.addActor('NoSuchType', 'x')
assert not isMessageSuccess(refused) and 'unknown actor type' in refused['status']['error'], refused

# Every actor, and groups.
assert isMessageSuccess(beach.addActor('Pong', 'myactors/pongers'))
futures = h.requestFromAll('ping', timeout=10)
results = futures.waitForResults(15)
assert futures.isFinished() and len(results) == 2 and all(r.isSuccess for r in results), results
assert futures.getNewResults() == []
assert h.shoot('ping') is True
assert h.broadcast('ping') == 2
assert isMessageSuccess(beach.addActor('Pong', 'grp/a'))
assert isMessageSuccess(beach.addActor('Pong', 'grp/b'))
g = beach.getActorHandleGroup('grp')
group = g.request('ping', timeout=10).waitForResults(15)
assert len(group) == 2 and all(r.isSuccess for r in group), group
assert g.shoot('ping') == 2

# Reads, in py-beach's shapes.
d = beach.getDirectory()
pongers = d['realms']['global']['myactors/pongers']
assert len(pongers) == 2 and all(':' in ep for ep in pongers.values()), d
assert beach.getNodeCount() == 3
health = beach.getClusterHealth()
assert len(health) == 3 and all(0 <= v['cpu'] <= 1 for v in health.values()), health
load = beach.getLoadInfo()
assert any(v['received'] > 0 for v in load.values()), load
secret = beach.addActor('Pong', 'myactors/secret', parameters={'_password': 'hunter2', 'size': 3})
assert isMessageSuccess(secret), secret
mtd = beach.getAllNodeMetadata()
found = [m for reply in mtd.values() for uid, m in reply['data']['mtd'].items() if uid == secret['data']['uid']]
assert found and found[0]['params'] == {'_password': '<PRIVATE>', 'size': 3}, mtd

# Categories and stopping; the admin token is read at each call.
uid = a2['data']['uid']
assert isMessageSuccess(beach.addToCategory(uid, 'myactors/extra'))
assert uid in beach.getDirectory()['realms']['global']['myactors/extra']
assert isMessageSuccess(beach.removeFromCategory(uid, 'myactors/extra'))
token, beach._admin_token = beach._admin_token, 'wrong'
denied = beach.stopActors(withId=uid)
assert not isMessageSuccess(denied), denied
beach._admin_token = token
stopped = beach.stopActors(withCategory='grp')
assert isMessageSuccess(stopped) and len(stopped['data']['stopped']) == 2, stopped
assert beach.setRealm('other') == 'global' and beach.get_directory() == {'realms': {'other': {}}}
beach.set_realm('global')
assert beach.flush() is True
assert beach.getActorHandle('myactors/pongers').getNumAvailable() == 0
beach.close()
print("start_sample: ok")
