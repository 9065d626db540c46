"""Fidelity check of the CQL test server with Debian's python3-cassandra (the DataStax
Python driver), an independent client: run by integration/testserver/cql's
TestPythonDriverFidelity, which arms the server's faults first.

usage: cql_fidelity.py HOST PORT KEYSPACE UNAVAILABLE_NEEDLE TIMEOUT_NEEDLE INVALID_NEEDLE

It connects (protocol negotiation, system tables, schema metadata), creates a
keyspace, a user type and a table, writes with prepared INSERTs carrying USING
TIMESTAMP, writes an unlogged batch, reads back with WRITETIME and checks the values
and Cassandra's last-write-wins, then sends the writes the server was armed to fail
and checks that they surface as the driver's own exception classes. Each check raises
AssertionError with what it saw; the exit status is non-zero then. It prints "ok" last.
"""

import datetime
import decimal
import sys
import uuid

from cassandra import ConsistencyLevel, InvalidRequest, Unavailable, WriteTimeout
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import FallthroughRetryPolicy, RoundRobinPolicy, WriteType
from cassandra.query import BatchStatement, BatchType, SimpleStatement


def main(host, port, keyspace, unavailable, timeout, invalid):
    # No retries in the driver: the injected errors must reach the caller as they are.
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), retry_policy=FallthroughRetryPolicy(),
                               consistency_level=ConsistencyLevel.LOCAL_QUORUM, request_timeout=10)
    cluster = Cluster([host], port=int(port), execution_profiles={EXEC_PROFILE_DEFAULT: profile}, connect_timeout=10)
    try:
        session = cluster.connect()
        run(cluster, session, keyspace, unavailable, timeout, invalid)
    finally:
        cluster.shutdown()
    print("ok")


def run(cluster, session, ks, unavailable, timeout, invalid):
    # The driver negotiated a protocol version the server speaks, and read system.local.
    assert cluster.protocol_version == 4, cluster.protocol_version
    local = session.execute("SELECT release_version, partitioner FROM system.local").one()
    assert local.release_version.startswith("3.11"), local
    assert local.partitioner.endswith("Murmur3Partitioner"), local

    session.execute("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" % ks)
    session.execute("CREATE TYPE %s.address (street text, zip int, tags frozen<list<text>>)" % ks)
    session.execute("""CREATE TABLE %s.orders (
        customer text, id text, qty int, total decimal, placed timestamp, day date, at time,
        ref uuid, raw blob, ratio double, home frozen<address>, labels frozen<map<text, bigint>>,
        PRIMARY KEY ((customer), id))""" % ks)
    cluster.refresh_schema_metadata()
    meta = cluster.metadata.keyspaces[ks]
    assert "orders" in meta.tables and "address" in meta.user_types, (list(meta.tables), list(meta.user_types))
    cols = meta.tables["orders"].columns
    assert cols["home"].cql_type == "frozen<address>", cols["home"].cql_type
    assert [c.name for c in meta.tables["orders"].partition_key] == ["customer"]
    assert [c.name for c in meta.tables["orders"].clustering_key] == ["id"]

    # Prepared INSERT with USING TIMESTAMP, every type of the table.
    insert = session.prepare(
        "INSERT INTO %s.orders (customer, id, qty, total, placed, day, at, ref, raw, ratio, home, labels) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?" % ks)
    assert len(insert.column_metadata) == 13, insert.column_metadata
    ref = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
    placed = datetime.datetime(1969, 12, 31, 23, 59, 59, 999000)
    row = ("c1", "o1", 2, decimal.Decimal("-12.30"), placed, datetime.date(1960, 1, 1), datetime.time(13, 5, 7, 123456),
           ref, b"\x00\xff", -1e300, ("Main St", 12345, ["a", "b"]), {"x.y": 1, "$z": -2})
    session.execute(insert, row + (1000,))
    got = session.execute("SELECT qty, total, placed, day, at, ref, raw, ratio, home, labels, WRITETIME(qty) AS w "
                          "FROM %s.orders WHERE customer = 'c1' AND id = 'o1'" % ks).one()
    assert got.qty == 2 and got.total == decimal.Decimal("-12.30") and str(got.total) == "-12.30", got
    assert got.placed == placed, got.placed
    assert str(got.day) == "1960-01-01", got.day
    assert str(got.at) == "13:05:07.123456000", got.at
    assert got.ref == ref and got.raw == b"\x00\xff" and got.ratio == -1e300, got
    assert (got.home.street, got.home.zip, list(got.home.tags)) == ("Main St", 12345, ["a", "b"]), got.home
    assert dict(got.labels) == {"x.y": 1, "$z": -2}, got.labels
    assert got.w == 1000, got.w

    # Last write wins by timestamp, cell by cell: an older write changes nothing, a
    # newer one replaces the cells it writes.
    session.execute(insert, ("c1", "o1", 99) + row[3:] + (999,))
    assert session.execute("SELECT qty FROM %s.orders WHERE customer = 'c1' AND id = 'o1'" % ks).one().qty == 2
    upd = session.prepare("INSERT INTO %s.orders (customer, id, qty) VALUES (?, ?, ?) USING TIMESTAMP ?" % ks)
    session.execute(upd, ("c1", "o1", 3, 1001))
    got = session.execute("SELECT qty, total, WRITETIME(qty) AS wq, WRITETIME(total) AS wt FROM %s.orders "
                          "WHERE customer = 'c1' AND id = 'o1'" % ks).one()
    assert (got.qty, got.total, got.wq, got.wt) == (3, decimal.Decimal("-12.30"), 1001, 1000), got

    # An unlogged batch of prepared INSERTs of one partition, and a null cell.
    short = session.prepare("INSERT INTO %s.orders (customer, id, qty, home) VALUES (?, ?, ?, ?)" % ks)
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for i in range(5):
        batch.add(short, ("c2", "b%d" % i, i, None))
    session.execute(batch)
    rows = list(session.execute(SimpleStatement("SELECT id, qty, home FROM %s.orders WHERE customer = 'c2'" % ks, fetch_size=2)))
    assert [(r.id, r.qty, r.home) for r in rows] == [("b%d" % i, i, None) for i in range(5)], rows
    assert session.execute("SELECT COUNT(*) FROM %s.orders WHERE customer IN ('c1', 'c2')" % ks).one()[0] == 6

    # Errors Cassandra answers itself: an unknown table, a syntax error.
    expect(InvalidRequest, lambda: session.execute("SELECT * FROM %s.nope" % ks), "unconfigured table")
    from cassandra.protocol import SyntaxException
    expect(SyntaxException, lambda: session.execute("SELEC nothing"), "")

    # The server's injected faults, on writes whose values contain the armed needles.
    e = expect(Unavailable, lambda: session.execute(short, ("c3", unavailable, 1, None)), "injected")
    assert e.consistency == ConsistencyLevel.LOCAL_QUORUM and e.required_replicas == 2 and e.alive_replicas == 1, e.__dict__
    batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=ConsistencyLevel.ONE)
    batch.add(short, ("c3", "fine", 1, None))
    batch.add(short, ("c3", timeout, 2, None))
    e = expect(WriteTimeout, lambda: session.execute(batch), "injected")
    assert e.consistency == ConsistencyLevel.ONE and e.write_type == WriteType.UNLOGGED_BATCH, e.__dict__
    expect(InvalidRequest, lambda: session.execute(short, ("c3", invalid, 1, None)), "injected invalid request")
    # Nothing of the failed writes was applied; the faults were one-shot.
    assert list(session.execute("SELECT id FROM %s.orders WHERE customer = 'c3'" % ks)) == []
    session.execute(batch)
    assert sorted(r.id for r in session.execute("SELECT id FROM %s.orders WHERE customer = 'c3'" % ks)) == sorted(["fine", timeout])


def expect(cls, f, text):
    try:
        f()
    except cls as e:
        assert text in str(e), (cls.__name__, str(e))
        return e
    raise AssertionError("expected %s" % cls.__name__)


if __name__ == "__main__":
    main(*sys.argv[1:])
