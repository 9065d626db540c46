"""Fidelity check of the embedded FerretDB and its fault-injecting proxy with Debian's
pymongo (python3-pymongo), an independent MongoDB client: run by
integration/testserver/mongo's TestPymongoFidelity, which arms the proxy first.

usage: mongo_fidelity.py URI DATABASE PERMANENT_ID RETRYABLE_ID

Each check raises AssertionError with what it saw; the exit status is non-zero then.
"""

import sys

import pymongo
from pymongo.errors import BulkWriteError, DuplicateKeyError


def main(uri, database, permanent_id, retryable_id):
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000, retryWrites=False)
    try:
        run(client[database], permanent_id, retryable_id)
    finally:
        client.close()


def run(db, permanent_id, retryable_id):
    orders = db["orders"]

    # Insert and find.
    orders.insert_one({"_id": "o1", "qty": 2, "tags": ["a", "b"], "inner": {"x": 1}})
    orders.insert_many([{"_id": "o2", "qty": 5}, {"_id": "o3", "qty": 7}])
    got = orders.find_one({"_id": "o1"})
    assert got == {"_id": "o1", "qty": 2, "tags": ["a", "b"], "inner": {"x": 1}}, got
    ids = sorted(d["_id"] for d in orders.find({"qty": {"$gt": 3}}))
    assert ids == ["o2", "o3"], ids

    # Update with upsert: one insert, then one update of the same document.
    r = orders.update_one({"_id": "o4"}, {"$set": {"qty": 1}}, upsert=True)
    assert r.upserted_id == "o4" and r.matched_count == 0, r.raw_result
    r = orders.update_one({"_id": "o4"}, {"$set": {"qty": 9}}, upsert=True)
    assert r.upserted_id is None and r.matched_count == 1 and r.modified_count == 1, r.raw_result
    assert orders.find_one({"_id": "o4"})["qty"] == 9

    # A conditional upsert that does not match an existing _id is a duplicate key.
    try:
        orders.update_one({"_id": "o4", "qty": {"$lt": 5}}, {"$set": {"qty": 3}}, upsert=True)
        raise AssertionError("a conditional upsert on an existing _id did not fail")
    except DuplicateKeyError as e:
        assert e.code == 11000, e.details

    # A duplicate _id in an unordered insert_many fails that document alone.
    try:
        orders.insert_many([{"_id": "o5"}, {"_id": "o1"}, {"_id": "o6"}], ordered=False)
        raise AssertionError("inserting a duplicate _id did not fail")
    except BulkWriteError as e:
        errs = [(w["index"], w["code"]) for w in e.details["writeErrors"]]
        assert errs == [(1, 11000)], e.details
        assert e.details["nInserted"] == 2, e.details

    # The proxy's injected write errors, one permanent and one retryable, mixed with a
    # real duplicate: each document fails alone, with its own index and code.
    docs = [{"_id": permanent_id}, {"_id": "o7"}, {"_id": retryable_id}, {"_id": "o2"}, {"_id": "o8"}]
    try:
        orders.insert_many(docs, ordered=False)
        raise AssertionError("the injected write errors did not surface")
    except BulkWriteError as e:
        errs = [(w["index"], w["code"]) for w in e.details["writeErrors"]]
        assert errs == [(0, 2), (2, 11600), (3, 11000)], e.details
        assert e.details["nInserted"] == 2, e.details
    present = sorted(d["_id"] for d in orders.find({"_id": {"$in": [permanent_id, "o7", retryable_id, "o8"]}}))
    assert present == ["o7", "o8"], present

    # Armed only once: the retry goes through.
    orders.insert_one({"_id": retryable_id})
    assert orders.count_documents({"_id": retryable_id}) == 1


if __name__ == "__main__":
    main(*sys.argv[1:5])
    print("ok")
